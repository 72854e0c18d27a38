import assert from "node:assert/strict";
import fc from "fast-check";
import { Backoff } from "../../src/runtime/backoff.ts";

const constant = (value: number) => () => value;

Deno.test("with random 1-ε delays double from initialMs up to maxMs", () => {
  const backoff = new Backoff({ initialMs: 100, maxMs: 5000, random: constant(1 - 1e-12) });
  const delays = Array.from({ length: 9 }, () => backoff.next());
  assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  assert.equal(backoff.attempt, 9);
});

Deno.test("with random 0 every delay is half its step (never zero)", () => {
  const backoff = new Backoff({ initialMs: 100, maxMs: 5000, random: constant(0) });
  const delays = Array.from({ length: 8 }, () => backoff.next());
  assert.deepEqual(delays, [50, 100, 200, 400, 800, 1600, 2500, 2500]);
});

Deno.test("with random 0.5 delays are three quarters of the step", () => {
  const backoff = new Backoff({ initialMs: 1000, maxMs: 60_000, random: constant(0.5) });
  assert.deepEqual([backoff.next(), backoff.next(), backoff.next()], [750, 1500, 3000]);
});

Deno.test("reset starts over", () => {
  const backoff = new Backoff({ initialMs: 100, maxMs: 5000, random: constant(0) });
  backoff.next();
  backoff.next();
  backoff.next();
  assert.equal(backoff.attempt, 3);
  backoff.reset();
  assert.equal(backoff.attempt, 0);
  assert.equal(backoff.next(), 50);
  assert.equal(backoff.next(), 100);
});

Deno.test("the cap holds after very many attempts", () => {
  const backoff = new Backoff({ initialMs: 1000, maxMs: 30_000, random: constant(0.999) });
  let last = 0;
  for (let i = 0; i < 200; i++) last = backoff.next();
  assert.ok(Number.isFinite(last));
  assert.ok(last >= 15_000 && last <= 30_000, String(last));
  assert.equal(backoff.attempt, 200);
});

Deno.test("the default random source stays within the bounds", () => {
  const backoff = new Backoff({ initialMs: 200, maxMs: 1000 });
  const steps = [200, 400, 800, 1000, 1000, 1000];
  for (const step of steps) {
    const delay = backoff.next();
    assert.ok(delay >= step / 2 && delay <= step, `${delay} not in [${step / 2}, ${step}]`);
  }
});

Deno.test("property: each delay lies in [step/2, step] for the capped doubling step", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 10_000 }),
      fc.integer({ min: 1, max: 1_000_000 }),
      fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
        minLength: 1,
        maxLength: 40,
      }),
      (initialMs, extra, randoms) => {
        const maxMs = initialMs + extra;
        let i = 0;
        const backoff = new Backoff({ initialMs, maxMs, random: () => randoms[i] ?? NaN });
        for (i = 0; i < randoms.length; i++) {
          const step = Math.min(maxMs, initialMs * 2 ** i);
          const delay = backoff.next();
          assert.equal(delay, Math.round(step / 2 + (randoms[i] ?? NaN) * step / 2));
          assert.ok(delay >= Math.floor(step / 2) && delay <= step, `${delay} for step ${step}`);
        }
      },
    ),
    { numRuns: 300 },
  );
});
