import assert from "node:assert/strict";
import { secretValues } from "../../src/config/secret_values.ts";

Deno.test("values under secret keys are found in parsed data, at any depth, scalars of any type", () => {
  const data = {
    central_broker: { url: "mqtt://h", username: "bridge", password: "CentralPw" },
    internal_broker: {
      password: 12345678,
      tls: { key: "KeyPem", key_file: "/etc/key.pem", cert: "CertPem" },
      meter_auth: { password: ["Listed"], accounts: { "33B1225950027": { password: "AccPw" } } },
    },
    http: { token: { nested: "TokenPw" } },
  };
  assert.deepEqual(secretValues("", data).toSorted(), [
    "12345678",
    "AccPw",
    "CentralPw",
    "KeyPem",
    "Listed",
    "TokenPw",
  ]);
});

Deno.test("values under secret keys are found in text that is not valid YAML", () => {
  const text = [
    "central_broker:",
    '  password: "QuotedPw',
    "  username: bridge",
    "internal_broker: { url: x, password: FlowPw }",
    "meter_auth:",
    "  - password: 'Single''Quoted' # a comment",
    '  "password": JsonPw',
    "  password: PlainPw # a comment about the password",
    "  # password: CommentedOut",
    "tls:",
    "  key: |",
    "    -----BEGIN PRIVATE KEY-----",
    "    Base64Body",
    "  cert: PublicCert",
    "  password: ${KPM33B_PASSWORD}",
    "  password: ${KPM33B_PASSWORD:-DefaultPw}",
  ].join("\n");
  assert.deepEqual(secretValues(text), [
    "QuotedPw",
    "FlowPw }",
    "Single''Quoted",
    "JsonPw",
    "PlainPw",
    "-----BEGIN PRIVATE KEY-----",
    "Base64Body",
    "DefaultPw",
  ]);
});

Deno.test("the names of environment variables are no secrets", () => {
  assert.deepEqual(secretValues("password: ${A}${B}\ntoken: '${C}'\nkey: ${D:-}\n"), []);
});
