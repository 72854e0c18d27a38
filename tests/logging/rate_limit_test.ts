import assert from "node:assert/strict";
import fc from "fast-check";
import { LogRateLimiter, warnLimited } from "../../src/logging/rate_limit.ts";
import { fakeLog } from "../helpers/fake_central.ts";

Deno.test("the first burst lines of a window pass, the rest are suppressed", () => {
  const limiter = new LogRateLimiter(3, 1000);
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((t) => limiter.admit("bad_json", t)),
    [0, 0, 0, undefined, undefined, undefined],
  );
});

Deno.test("the next window reports how many lines were suppressed", () => {
  const limiter = new LogRateLimiter(2, 1000);
  limiter.admit("k", 0);
  limiter.admit("k", 10);
  for (let t = 20; t < 30; t++) assert.equal(limiter.admit("k", t), undefined);
  assert.equal(limiter.admit("k", 999), undefined); // still the first window
  assert.equal(limiter.admit("k", 1000), 11); // window starts anew at exactly windowMs
  assert.equal(limiter.admit("k", 1001), 0); // count was reported once
  assert.equal(limiter.admit("k", 1002), undefined);
  assert.equal(limiter.admit("k", 5000), 1);
});

Deno.test("keys are limited independently", () => {
  const limiter = new LogRateLimiter(1, 1000);
  assert.equal(limiter.admit("a", 0), 0);
  assert.equal(limiter.admit("a", 1), undefined);
  assert.equal(limiter.admit("b", 2), 0);
  assert.equal(limiter.admit("b", 3), undefined);
  assert.equal(limiter.admit("a", 4), undefined);
  assert.equal(limiter.admit("a", 1000), 2);
  assert.equal(limiter.admit("b", 1001), undefined); // b's window began at 2
  assert.equal(limiter.admit("b", 1002), 2);
});

Deno.test("a quiet key starts with nothing suppressed", () => {
  const limiter = new LogRateLimiter(5, 60_000);
  assert.equal(limiter.admit("k", 0), 0);
  assert.equal(limiter.admit("k", 1_000_000), 0);
});

Deno.test("property: per window at most burst lines pass and every suppressed line is reported once", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 100 }),
      fc.array(
        fc.record({ key: fc.constantFrom("a", "b", "c"), gap: fc.integer({ min: 0, max: 60 }) }),
        {
          maxLength: 200,
        },
      ),
      (burst, windowMs, events) => {
        const limiter = new LogRateLimiter(burst, windowMs);
        let now = 0;
        const suppressed = new Map<string, number>();
        const reported = new Map<string, number>();
        const windowStart = new Map<string, number>();
        const passedInWindow = new Map<string, number>();
        for (const { key, gap } of events) {
          now += gap;
          const start = windowStart.get(key);
          if (start === undefined || now - start >= windowMs) {
            windowStart.set(key, now);
            passedInWindow.set(key, 0);
          }
          const result = limiter.admit(key, now);
          if (result === undefined) {
            suppressed.set(key, (suppressed.get(key) ?? 0) + 1);
            assert.equal(passedInWindow.get(key), burst);
          } else {
            passedInWindow.set(key, passedInWindow.get(key)! + 1);
            assert.ok(passedInWindow.get(key)! <= burst);
            reported.set(key, (reported.get(key) ?? 0) + result);
          }
        }
        // Whatever is still unreported is reported on the next line after the window.
        for (const key of ["a", "b", "c"]) {
          const late = limiter.admit(key, now + windowMs) ?? 0;
          assert.equal((reported.get(key) ?? 0) + late, suppressed.get(key) ?? 0, key);
        }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("warnLimited writes a burst per key, then tells how many lines it suppressed", () => {
  const { log, lines } = fakeLog();
  let now = 0;
  const warn = warnLimited(log, new LogRateLimiter(1, 1000), () => now);
  warn("k", "Bad {what}", { what: "a" });
  warn("k", "Bad {what}", { what: "b" });
  warn("k", "Bad {what}", { what: "c" });
  warn("other", "Other", {});
  now = 1000;
  warn("k", "Bad {what}", { what: "d" });
  assert.deepEqual(lines, [
    ["warn", "Bad {what}", { what: "a", suppressed: 0 }],
    ["warn", "Other", { suppressed: 0 }],
    ["warn", "Bad {what} ({suppressed} similar lines suppressed)", { what: "d", suppressed: 2 }],
  ]);
});
