import assert from "node:assert/strict";
import { digest, digestNumbers } from "../../src/runtime/hash.ts";

Deno.test("digest is a stable safe integer that tells payloads apart", () => {
  const payload = '{"name":"Power","unique_id":"kpm33b_33B1225950027_power"}';
  assert.equal(digest(payload), digest(payload));
  assert.ok(Number.isSafeInteger(digest(payload)));
  assert.notEqual(digest(payload), digest(payload.replace("Power", "power")));
  assert.notEqual(digest("a"), digest("a", 1));
});

Deno.test("100,000 discovery-like payloads give 100,000 digests", () => {
  const seen = new Set<number>();
  for (let i = 0; i < 100_000; i++) {
    seen.add(digest(`{"unique_id":"kpm33b_33B${String(i).padStart(10, "0")}_power"}`));
  }
  assert.equal(seen.size, 100_000);
});

Deno.test("digestNumbers is equal for equal values: NaN as NaN, -0 as 0; unequal otherwise", () => {
  assert.equal(digestNumbers([1.5, NaN, 0]), digestNumbers([1.5, Number.NaN, -0]));
  assert.notEqual(digestNumbers([1.5, NaN, 0]), digestNumbers([1.5, 0, 0]));
  assert.notEqual(digestNumbers([117.779]), digestNumbers([117.783]));
  assert.notEqual(digestNumbers([1, 2]), digestNumbers([2, 1]));
  assert.notEqual(digestNumbers([]), digestNumbers([0]));
  assert.ok(Number.isSafeInteger(digestNumbers([230.1, 229.8, 231.4])));
});
