import assert from "node:assert/strict";
import fc from "fast-check";
import {
  MINUTES_LEVEL_INTERVALS,
  MinutesLevelInterval,
  SECONDS_LEVEL_INTERVALS,
  SecondsLevelInterval,
} from "../../src/protocol/upload_interval.ts";

Deno.test("allowed intervals are the ones of the protocol reference", () => {
  assert.deepEqual([...SECONDS_LEVEL_INTERVALS], [30, 60, 300, 600, 900, 1200, 1800, 3600]);
  assert.deepEqual([...MINUTES_LEVEL_INTERVALS], [1, 5, 10, 15, 20, 30, 60, 1440]);
});

Deno.test("every allowed value is accepted", () => {
  for (const value of SECONDS_LEVEL_INTERVALS) {
    assert.equal(SecondsLevelInterval.parse(value), value);
  }
  for (const value of MINUTES_LEVEL_INTERVALS) {
    assert.equal(MinutesLevelInterval.parse(value), value);
  }
});

Deno.test("a value that is not allowed names the allowed values", () => {
  const seconds = SecondsLevelInterval.safeParse(45);
  assert.equal(seconds.success, false);
  assert.equal(
    seconds.error!.issues[0]?.message,
    "45 is not one of 30, 60, 300, 600, 900, 1200, 1800, 3600",
  );
  const minutes = MinutesLevelInterval.safeParse(2);
  assert.equal(minutes.error!.issues[0]?.message, "2 is not one of 1, 5, 10, 15, 20, 30, 60, 1440");
  // The levels are not interchangeable.
  assert.equal(SecondsLevelInterval.safeParse(1).success, false);
  assert.equal(MinutesLevelInterval.safeParse(3600).success, false);
  assert.equal(MinutesLevelInterval.safeParse(1440).success, true);
});

Deno.test("non-numbers are rejected (strings only after config coercion)", () => {
  for (const value of ["60", null, undefined, NaN, 60.5, Infinity]) {
    assert.equal(SecondsLevelInterval.safeParse(value).success, false, String(value));
  }
});

Deno.test("property: exactly the listed values are accepted", () => {
  fc.assert(
    fc.property(fc.integer({ min: -10, max: 5000 }), (value) => {
      assert.equal(
        SecondsLevelInterval.safeParse(value).success,
        (SECONDS_LEVEL_INTERVALS as readonly number[]).includes(value),
      );
      assert.equal(
        MinutesLevelInterval.safeParse(value).success,
        (MINUTES_LEVEL_INTERVALS as readonly number[]).includes(value),
      );
    }),
    { numRuns: 500 },
  );
});
