import assert from "node:assert/strict";
import fc from "fast-check";
import { entryBytes, utf8Length } from "../../src/outbox/outbox_store.ts";

const encoder = new TextEncoder();

Deno.test("utf8Length is the length TextEncoder gives, for any string", () => {
  // Any UTF-16 units, so lone and reversed surrogates come up as well as pairs.
  const unit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code));
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit }), fc.string({ unit: "binary" })), (text) => {
      assert.equal(utf8Length(text), encoder.encode(text).length);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("utf8Length counts each width, surrogate pairs and lone surrogates", () => {
  for (
    const text of [
      "",
      "kpm33b",
      "é",
      "€",
      "😀",
      "a😀b",
      "\ud83d",
      "\ude00",
      "\ude00\ud83d",
      "x\ud83d",
    ]
  ) {
    assert.equal(utf8Length(text), encoder.encode(text).length, JSON.stringify(text));
  }
});

Deno.test("entryBytes counts topic and payload", () => {
  assert.equal(entryBytes({ topic: "kpm33b/é", payload: '{"v":"€"}', retain: false }), 20);
});
