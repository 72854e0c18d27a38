import assert from "node:assert/strict";
import { digest } from "../../src/runtime/hash.ts";

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
