import assert from "node:assert/strict";
import fc from "fast-check";
import { TokenBucket } from "../../src/runtime/token_bucket.ts";

const T0 = 1_000_000;

Deno.test("a full bucket gives its burst at once, then one token per 1/rate seconds", () => {
  const bucket = new TokenBucket({ ratePerSecond: 10, burst: 3 }, T0);
  assert.deepEqual([1, 2, 3, 4].map(() => bucket.take(T0)), [true, true, true, false]);
  assert.equal(bucket.waitMs(T0), 100);
  assert.equal(bucket.take(T0 + 99), false);
  assert.equal(bucket.take(T0 + 100), true);
});

Deno.test("idle time saves at most the burst", () => {
  const bucket = new TokenBucket({ ratePerSecond: 10, burst: 2 }, T0);
  bucket.take(T0);
  bucket.take(T0);
  assert.equal(bucket.available(T0 + 60_000), 2);
});

Deno.test("a debit below zero is paid back before the next take", () => {
  const bucket = new TokenBucket({ ratePerSecond: 10, burst: 1 }, T0);
  assert.equal(bucket.take(T0), true);
  bucket.debit(4, T0);
  assert.equal(bucket.available(T0), -4);
  assert.equal(bucket.waitMs(T0), 500);
  assert.equal(bucket.take(T0 + 499), false);
  assert.equal(bucket.take(T0 + 500), true);
});

Deno.test("rate 0 is unlimited", () => {
  const bucket = new TokenBucket({ ratePerSecond: 0, burst: 1 }, T0);
  assert.ok(Array.from({ length: 1000 }, () => bucket.take(T0)).every(Boolean));
  assert.equal(bucket.waitMs(T0), 0);
});

Deno.test("property: over any window, takes never exceed burst + rate × window", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1000 }),
      fc.integer({ min: 1, max: 50 }),
      fc.array(fc.nat(300), { minLength: 1, maxLength: 300 }),
      (rate, burst, gaps) => {
        const bucket = new TokenBucket({ ratePerSecond: rate, burst }, T0);
        const taken: number[] = [];
        let now = T0;
        for (const gap of gaps) {
          now += gap;
          while (bucket.take(now)) taken.push(now);
        }
        for (let i = 0; i < taken.length; i++) {
          for (let j = i; j < taken.length; j++) {
            const windowMs = taken[j]! - taken[i]!;
            assert.ok(j - i + 1 <= burst + Math.floor(rate * windowMs / 1000) + 1e-9);
          }
        }
      },
    ),
    { numRuns: 200 },
  );
});
