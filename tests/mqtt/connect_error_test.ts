import assert from "node:assert/strict";
import { classifyConnectError, explainConnectError } from "../../src/mqtt/connect_error.ts";

function error(message: string, code?: unknown): Error & { code?: unknown } {
  const result = new Error(message) as Error & { code?: unknown };
  if (code !== undefined) result.code = code;
  return result;
}

const untrusted = (message: string, key: string) =>
  `${message}: the broker's TLS certificate is not signed by a trusted CA; ` +
  `set ${key}.tls.ca_file to the CA certificate that signed it`;

Deno.test("every untrusted-certificate code asks for the broker's ca_file", () => {
  for (
    const code of [
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      "UNABLE_TO_GET_ISSUER_CERT",
      "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
      "SELF_SIGNED_CERT_IN_CHAIN",
      "DEPTH_ZERO_SELF_SIGNED_CERT",
      "CERT_SIGNATURE_FAILURE",
    ]
  ) {
    assert.equal(
      explainConnectError("central_broker", error("handshake failed", code)),
      untrusted("handshake failed", "central_broker"),
      code,
    );
  }
});

Deno.test("an untrusted certificate is recognised by its message without a code", () => {
  for (
    const message of [
      "unable to verify the first certificate",
      "invalid peer certificate: UnknownIssuer",
      "certificate signed by unknown issuer",
      "self-signed certificate",
      "self signed certificate in certificate chain",
      "Unable To Verify leaf signature",
    ]
  ) {
    assert.equal(
      explainConnectError("internal_broker", error(message)),
      untrusted(message, "internal_broker"),
      message,
    );
  }
});

Deno.test("an expired certificate is recognised by its code or its message", () => {
  assert.equal(
    explainConnectError("central_broker", error("handshake failed", "CERT_HAS_EXPIRED")),
    "handshake failed: the broker's TLS certificate has expired",
  );
  assert.equal(
    explainConnectError("central_broker", error("certificate has expired")),
    "certificate has expired: the broker's TLS certificate has expired",
  );
  assert.equal(
    explainConnectError("central_broker", error("invalid peer certificate: Expired")),
    "invalid peer certificate: Expired: the broker's TLS certificate has expired",
  );
});

Deno.test("a certificate for another host names the broker's url key", () => {
  assert.equal(
    explainConnectError(
      "central_broker",
      error("handshake failed", "ERR_TLS_CERT_ALTNAME_INVALID"),
    ),
    "handshake failed: the broker's certificate does not name the host in central_broker.url",
  );
  const message = "Hostname/IP does not match certificate's altnames: Host: ha.local. is not in " +
    "the cert's altnames: DNS:other.example";
  assert.equal(
    explainConnectError("internal_broker", error(message)),
    `${message}: the broker's certificate does not name the host in internal_broker.url`,
  );
  assert.equal(
    explainConnectError("central_broker", error("certificate not valid for name ha.local")),
    "certificate not valid for name ha.local: the broker's certificate does not name the host " +
      "in central_broker.url",
  );
  assert.equal(
    explainConnectError("central_broker", error("ERR_TLS_CERT_ALTNAME_INVALID altname mismatch")),
    "ERR_TLS_CERT_ALTNAME_INVALID altname mismatch: the broker's certificate does not name the " +
      "host in central_broker.url",
  );
});

Deno.test("refused credentials point at the broker's username and password", () => {
  for (
    const message of [
      "Connection refused: Bad username or password",
      "Connection refused: Bad User Name or Password",
      "bad username or password",
      "Connection refused: Not authorized",
      "Connection refused: Not authorised",
    ]
  ) {
    assert.equal(
      explainConnectError("central_broker", error(message)),
      `${message}: check central_broker.username and central_broker.password`,
      message,
    );
  }
  assert.equal(
    explainConnectError("internal_broker", error("Connection refused: Not authorized")),
    "Connection refused: Not authorized: check internal_broker.username and " +
      "internal_broker.password",
  );
});

Deno.test("other errors keep their message unchanged", () => {
  for (
    const [message, code] of [
      ["connect ECONNREFUSED 127.0.0.1:1883", "ECONNREFUSED"],
      ["getaddrinfo ENOTFOUND ha.local", "ENOTFOUND"],
      ["Connection refused: Server unavailable", undefined],
      ["connack timeout", undefined],
      ["", undefined],
    ] as const
  ) {
    assert.equal(explainConnectError("central_broker", error(message, code)), message);
  }
});

Deno.test("a code that is not a string is ignored", () => {
  assert.equal(
    explainConnectError("central_broker", error("handshake failed", 5)),
    "handshake failed",
  );
  assert.equal(
    explainConnectError("central_broker", error("handshake failed", { code: "CERT_HAS_EXPIRED" })),
    "handshake failed",
  );
});

Deno.test("an untrusted certificate takes precedence over an expiry in the same message", () => {
  const message = "self-signed certificate has expired";
  assert.equal(
    explainConnectError("central_broker", error(message, "CERT_HAS_EXPIRED")),
    untrusted(message, "central_broker"),
  );
});

Deno.test("connection errors are classified by code, else by message", () => {
  const cases = [
    ["handshake failed", "SELF_SIGNED_CERT_IN_CHAIN", "untrusted_certificate"],
    ["certificate has expired", undefined, "expired_certificate"],
    ["ERR_TLS_CERT_ALTNAME_INVALID altname mismatch", undefined, "certificate_host"],
    ["received corrupt message", "ERR_SSL_WRONG_VERSION_NUMBER", "tls"],
    ["Connection refused: Bad username or password", undefined, "credentials"],
    ["Connection refused: Not authorized", undefined, "credentials"],
    ["connect ECONNREFUSED 127.0.0.1:1883", "ECONNREFUSED", "refused"],
    ["connect ECONNREFUSED 127.0.0.1:1883", undefined, "refused"],
    ["getaddrinfo ENOTFOUND ha.local", "ENOTFOUND", "unknown_host"],
    ["getaddrinfo EAI_AGAIN ha.local", "EAI_AGAIN", "unknown_host"],
    ["connect EHOSTUNREACH 10.0.0.5:1883", "EHOSTUNREACH", "unreachable"],
    ["connect ENETUNREACH 10.0.0.5:1883", undefined, "unreachable"],
    ["connack timeout", undefined, "timeout"],
    ["Connection refused: Server unavailable", undefined, "other"],
    ["Invalid header flag bits", undefined, "other"],
  ] as const;
  for (const [message, code, kind] of cases) {
    assert.equal(classifyConnectError(error(message, code)), kind, message);
  }
});
