import assert from "node:assert/strict";
import fc from "fast-check";
import { redactUrl } from "../../src/logging/redact.ts";

Deno.test("credentials are removed from broker URLs", () => {
  assert.equal(redactUrl("mqtt://user:pass@broker:1883"), "mqtt://broker:1883");
  assert.equal(
    redactUrl("mqtts://bridge:s3cret@broker.example.com:8883"),
    "mqtts://broker.example.com:8883",
  );
  assert.equal(redactUrl("mqtt://user@broker:1883"), "mqtt://broker:1883");
  assert.equal(redactUrl("mqtt://:secret@broker"), "mqtt://broker");
  assert.equal(redactUrl("wss://u:p@broker:8443/mqtt?x=1"), "wss://broker:8443/mqtt?x=1");
  assert.equal(redactUrl("mqtt://us%40er:p%3Ass@10.0.0.1:1883"), "mqtt://10.0.0.1:1883");
});

Deno.test("URLs without credentials are returned unchanged", () => {
  for (
    const url of [
      "mqtt://broker:1883",
      "mqtt://127.0.0.1:11883",
      "ws://h/mqtt",
      "mqtts://[::1]:8883",
    ]
  ) {
    assert.equal(redactUrl(url), url);
  }
});

Deno.test("an invalid URL is never echoed", () => {
  for (
    const text of [
      "not a url",
      "",
      "mqtt://user:pass@[bad",
      "mqtt://user:pass@broker:99999",
      "//user:pass@broker",
    ]
  ) {
    assert.equal(redactUrl(text), "<invalid url>", text);
  }
});

Deno.test("property: the password never appears in the redacted URL", () => {
  fc.assert(
    fc.property(
      fc.stringMatching(/^[a-z]{1,8}$/),
      fc.stringMatching(/^[A-Za-z0-9_!~*]{6,16}$/).filter((p) => !/^(mqtts?|broker)$/.test(p)),
      fc.constantFrom("mqtt", "mqtts", "ws", "wss", "tcp"),
      (user, password, scheme) => {
        const redacted = redactUrl(`${scheme}://${user}:${password}@broker.local:1883/x`);
        assert.equal(redacted.includes(password), false, redacted);
        assert.equal(redacted.includes("@"), false, redacted);
        assert.ok(redacted.startsWith(`${scheme}://broker.local`), redacted);
      },
    ),
    { numRuns: 300 },
  );
});
