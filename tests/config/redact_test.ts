import assert from "node:assert/strict";
import fc from "fast-check";
import {
  isSecretKey,
  isSecretPath,
  maskSecretPieces,
  maskSecrets,
  redactUrl,
  redactUrlText,
} from "../../src/config/redact.ts";

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

Deno.test("secret keys: passwords, passphrases, secrets, tokens, credentials and key material", () => {
  for (
    const key of [
      "password",
      "meter_password",
      "passphrase",
      "passwd",
      "secret",
      "client_secret",
      "token",
      "auth_token",
      "credentials",
      "private_key",
      "key",
      "api-key",
    ]
  ) {
    assert.equal(isSecretKey(key), true, key);
  }
  for (
    const key of ["username", "url", "key_file", "cert", "ca", "ca_file", "keep", "host", "names"]
  ) {
    assert.equal(isSecretKey(key), false, key);
  }
});

Deno.test("a key path is secret when any of its keys is", () => {
  assert.equal(isSecretPath(["central_broker", "password"]), true);
  assert.equal(
    isSecretPath(["internal_broker", "meter_auth", "accounts", "33B1", "password"]),
    true,
  );
  assert.equal(isSecretPath(["central_broker", "tls", "key"]), true);
  assert.equal(isSecretPath(["central_broker", "password", 0]), true);
  assert.equal(isSecretPath(["internal_broker", "meter_auth", "accounts", "33B1"]), false);
  assert.equal(isSecretPath(["central_broker", "tls", "key_file"]), false);
  assert.equal(isSecretPath([]), false);
});

Deno.test("maskSecrets masks whole values, also inside other text, and nothing else", () => {
  assert.equal(
    maskSecrets('got "hunter2" and mqtt://u:hunter2@h', ["hunter2"]),
    'got "***" and mqtt://u:***@h',
  );
  assert.equal(maskSecrets("a long secret here", ["long secret"]), "a *** here");
  // Short secrets only as whole words: "ab" in "about" is no secret.
  assert.equal(maskSecrets("about ab (ab)", ["ab"]), "about *** (***)");
  assert.equal(maskSecrets("nothing to hide", []), "nothing to hide");
  assert.equal(maskSecrets("nothing to hide", ["", "  "]), "nothing to hide");
  // The longer of two overlapping secrets is masked whole.
  assert.equal(maskSecrets("x pass-word-long y", ["pass", "pass-word-long"]), "x *** y");
});

Deno.test("maskSecretPieces also masks the parts of a value a parser quotes", () => {
  const secrets = ['"S3cret\\qTail', "|BlockKey", "*AliasName", "] stray Word", "@at"];
  assert.equal(
    maskSecretPieces("Invalid escape sequence \\q", secrets),
    "Invalid escape sequence ***",
  );
  assert.equal(
    maskSecretPieces("Block scalar header includes extra characters: |BlockKey", secrets),
    "Block scalar header includes extra characters: ***",
  );
  assert.equal(
    maskSecretPieces(
      "Unresolved alias (the anchor must be set before the alias): AliasName",
      secrets,
    ),
    "Unresolved alias (the anchor must be set before the alias): ***",
  );
  assert.equal(
    maskSecretPieces('Unexpected scalar token in YAML stream: "Word"', secrets),
    'Unexpected scalar token in YAML stream: "***"',
  );
  assert.equal(
    maskSecretPieces("Plain value cannot start with reserved character @", secrets),
    "Plain value cannot start with reserved character ***",
  );
  // Words of the message that are only letters inside a secret stay: "Block" of "|BlockKey".
  assert.equal(maskSecretPieces("Block scalar", secrets), "Block scalar");
});

Deno.test("redactUrlText hides credentials in text meant as a URL, valid or not", () => {
  assert.equal(redactUrlText("mqtt://u:pw@host:1883"), "mqtt://<credentials>@host:1883");
  assert.equal(redactUrlText("mqtt//u:pw@host"), "mqtt//<credentials>@host");
  assert.equal(redactUrlText("mqtt://u:pa/ss@host"), "mqtt://<credentials>@host");
  assert.equal(redactUrlText("mqtt://u:p w@x@host"), "mqtt://<credentials>@host");
  assert.equal(redactUrlText("u:pw@host:1883"), "<credentials>@host:1883");
  assert.equal(redactUrlText("mqtt://host:1883"), "mqtt://host:1883");
  assert.equal(redactUrlText("not a url"), "not a url");
});
