import assert from "node:assert/strict";
import { BRIDGE_USERNAME, withBridgeCredentials } from "../../src/broker/bridge_credentials.ts";
import { Config } from "../../src/config/schema.ts";

function config(internal: Record<string, unknown> = {}): Config {
  return Config.parse({ internal_broker: { url: "mqtt://127.0.0.1:11883", ...internal } });
}

const EMBEDDED = { embedded: { enabled: true } };

Deno.test("the generated account's username is kpm33b-bridge", () => {
  assert.equal(BRIDGE_USERNAME, "kpm33b-bridge");
});

Deno.test("an embedded internal broker without a password gets a generated account", () => {
  const input = config(EMBEDDED);
  const output = withBridgeCredentials(input);
  assert.equal(output.internal_broker.username, "kpm33b-bridge");
  assert.match(output.internal_broker.password ?? "", /^[0-9a-f]{48}$/);
});

Deno.test("the generated password differs on each call", () => {
  const input = config(EMBEDDED);
  const passwords = new Set(
    Array.from({ length: 20 }, () => withBridgeCredentials(input).internal_broker.password),
  );
  assert.equal(passwords.size, 20);
});

Deno.test("a configured username is kept and only the password is generated", () => {
  const output = withBridgeCredentials(config({ ...EMBEDDED, username: "bridge" }));
  assert.equal(output.internal_broker.username, "bridge");
  assert.match(output.internal_broker.password ?? "", /^[0-9a-f]{48}$/);
});

Deno.test("generating credentials changes nothing else and leaves the input alone", () => {
  const input = config({ ...EMBEDDED, meter_auth: { password: "meter-secret" } });
  const before = structuredClone(input);
  const output = withBridgeCredentials(input);
  assert.deepEqual(input, before);
  assert.equal(input.internal_broker.username, undefined);
  assert.equal(input.internal_broker.password, undefined);
  assert.deepEqual(output, {
    ...before,
    internal_broker: {
      ...before.internal_broker,
      username: "kpm33b-bridge",
      password: output.internal_broker.password,
    },
  });
});

Deno.test("configured credentials are kept as they are", () => {
  const input = config({ ...EMBEDDED, username: "bridge", password: "bridge-secret" });
  const output = withBridgeCredentials(input);
  assert.equal(output, input);
  assert.equal(output.internal_broker.username, "bridge");
  assert.equal(output.internal_broker.password, "bridge-secret");
});

Deno.test("a configured password without a username gets the default username", () => {
  // The bridge's clients cannot send a password without a username.
  const output = withBridgeCredentials(config({ ...EMBEDDED, password: "bridge-secret" }));
  assert.equal(output.internal_broker.username, "kpm33b-bridge");
  assert.equal(output.internal_broker.password, "bridge-secret");
});

Deno.test("a configured username with an empty password keeps the username and gets a password", () => {
  const output = withBridgeCredentials(config({ ...EMBEDDED, username: "bridge", password: "" }));
  assert.equal(output.internal_broker.username, "bridge");
  assert.match(output.internal_broker.password ?? "", /^[0-9a-f]{48}$/);
});

Deno.test("no credentials are generated for an external internal broker", () => {
  const input = config();
  const output = withBridgeCredentials(input);
  assert.equal(output, input);
  assert.equal(output.internal_broker.username, undefined);
  assert.equal(output.internal_broker.password, undefined);
});

Deno.test("an embedded central broker alone gets no bridge credentials", () => {
  const input = Config.parse({
    internal_broker: { url: "mqtt://127.0.0.1:11883" },
    central_broker: { url: "mqtt://127.0.0.1:11884", embedded: { enabled: true } },
  });
  assert.equal(withBridgeCredentials(input), input);
});

Deno.test("an empty configured password counts as none: an account is generated", () => {
  const output = withBridgeCredentials(config({ ...EMBEDDED, password: "" }));
  assert.equal(output.internal_broker.username, BRIDGE_USERNAME);
  assert.match(output.internal_broker.password ?? "", /^[0-9a-f]{48}$/);
});
