import assert from "node:assert/strict";
import { embeddedListener } from "../../src/broker/listener.ts";
import { Config } from "../../src/config/schema.ts";

const A = "33B1225950027";
const CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";

function config(
  internal: Record<string, unknown> = {},
  central: Record<string, unknown> = {},
): Config {
  return Config.parse({
    internal_broker: { url: "mqtt://127.0.0.1:11883", ...internal },
    central_broker: { url: "mqtt://127.0.0.1:11884", ...central },
  });
}

const ENABLED = { embedded: { enabled: true } };

Deno.test("there is no listener when the embedded broker is not enabled", () => {
  const plain = config();
  assert.equal(embeddedListener(plain, "internal_broker"), undefined);
  assert.equal(embeddedListener(plain, "central_broker"), undefined);
  const disabled = config(
    { embedded: { enabled: false, port: 1234, host: "0.0.0.0" } },
    { embedded: { enabled: false, port: 1235 } },
  );
  assert.equal(embeddedListener(disabled, "internal_broker"), undefined);
  assert.equal(embeddedListener(disabled, "central_broker"), undefined);
});

Deno.test("only the enabled broker of the two has a listener", () => {
  const onlyCentral = config({}, ENABLED);
  assert.equal(embeddedListener(onlyCentral, "internal_broker"), undefined);
  assert.deepEqual(embeddedListener(onlyCentral, "central_broker"), {
    host: "127.0.0.1",
    port: 11884,
    tls: undefined,
  });
});

Deno.test("the port defaults to the port of the broker's url", () => {
  const both = config(ENABLED, ENABLED);
  assert.deepEqual(embeddedListener(both, "internal_broker"), {
    host: "127.0.0.1",
    port: 11883,
    tls: undefined,
  });
  assert.deepEqual(embeddedListener(both, "central_broker"), {
    host: "127.0.0.1",
    port: 11884,
    tls: undefined,
  });
});

Deno.test("the port defaults to the scheme's port when the url has none", () => {
  const listener = embeddedListener(
    Config.parse({ internal_broker: { url: "mqtt://127.0.0.1", ...ENABLED } }),
    "internal_broker",
  );
  assert.equal(listener?.port, 1883);
});

Deno.test("an explicit embedded port equal to the url's port is used", () => {
  const explicit = config(
    { url: "mqtt://127.0.0.1:21883", embedded: { enabled: true, port: 21883 } },
    { url: "mqtt://127.0.0.1:21884", embedded: { enabled: true, port: "21884" } },
  );
  assert.equal(embeddedListener(explicit, "internal_broker")?.port, 21883);
  assert.equal(embeddedListener(explicit, "central_broker")?.port, 21884);
});

Deno.test("the internal broker listens on loopback without a meter password or accounts", () => {
  const listener = embeddedListener(
    config({ ...ENABLED, meter_auth: { username: "kpm", password: "" } }),
    "internal_broker",
  );
  assert.equal(listener?.host, "127.0.0.1");
});

Deno.test("the internal broker listens on the LAN with a meter password", () => {
  const listener = embeddedListener(
    config({ ...ENABLED, meter_auth: { password: "meter-secret" } }),
    "internal_broker",
  );
  assert.deepEqual(listener, { host: "0.0.0.0", port: 11883, tls: undefined });
});

Deno.test("the internal broker listens on the LAN with accounts bound to meters", () => {
  const listener = embeddedListener(
    config({ ...ENABLED, meter_auth: { accounts: { [A]: { password: "a-secret" } } } }),
    "internal_broker",
  );
  assert.deepEqual(listener, { host: "0.0.0.0", port: 11883, tls: undefined });
});

Deno.test("an explicit host wins over the default of the internal broker", () => {
  assert.equal(
    embeddedListener(
      config({
        url: "mqtt://192.0.2.10:11883",
        embedded: { enabled: true, host: "192.0.2.10" },
        meter_auth: { password: "meter-secret" },
      }),
      "internal_broker",
    )?.host,
    "192.0.2.10",
  );
  assert.equal(
    embeddedListener(
      config({
        embedded: { enabled: true, host: "127.0.0.1" },
        meter_auth: { password: "meter-secret" },
      }),
      "internal_broker",
    )?.host,
    "127.0.0.1",
  );
});

Deno.test("the central broker listens on loopback whatever the meter authentication", () => {
  const listener = embeddedListener(
    config(
      { ...ENABLED, meter_auth: { password: "m", accounts: { [A]: { password: "a" } } } },
      ENABLED,
    ),
    "central_broker",
  );
  assert.deepEqual(listener, { host: "127.0.0.1", port: 11884, tls: undefined });
});

Deno.test("an explicit host wins for the central broker", () => {
  assert.equal(
    embeddedListener(config({}, { embedded: { enabled: true, host: "0.0.0.0" } }), "central_broker")
      ?.host,
    "0.0.0.0",
  );
});

Deno.test("the TLS listener passes its port and the PEM text of its certificate and key", () => {
  const tls = {
    port: 8883,
    cert_file: "/etc/cert.pem",
    key_file: "/etc/key.pem",
    cert: CERT,
    key: KEY,
  };
  const both = config(
    { embedded: { enabled: true, tls } },
    { embedded: { enabled: true, tls: { ...tls, port: 8884 } } },
  );
  assert.deepEqual(embeddedListener(both, "internal_broker"), {
    host: "127.0.0.1",
    port: 11883,
    tls: { port: 8883, cert: CERT, key: KEY },
  });
  assert.deepEqual(embeddedListener(both, "central_broker"), {
    host: "127.0.0.1",
    port: 11884,
    tls: { port: 8884, cert: CERT, key: KEY },
  });
});

Deno.test("a TLS listener whose files were not read yet has empty certificate and key", () => {
  const listener = embeddedListener(
    config({
      embedded: { enabled: true, tls: { port: 8883, cert_file: "c.pem", key_file: "k.pem" } },
    }),
    "internal_broker",
  );
  assert.deepEqual(listener?.tls, { port: 8883, cert: "", key: "" });
});
