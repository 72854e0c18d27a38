import assert from "node:assert/strict";
import { banner } from "../src/banner.ts";
import { Config } from "../src/config/schema.ts";

const A = "33B1225950027";
const B = "33B1225950028";

/** Like the shipped config.yaml: both brokers embedded, no meter password. */
function shipped(meterAuth: Record<string, unknown> = {}): Config {
  return Config.parse({
    internal_broker: {
      url: "mqtt://127.0.0.1:11883",
      client_id: "kpm33b-bridge",
      embedded: { enabled: true },
      meter_auth: { username: "meter", password: "", accounts: {}, ...meterAuth },
    },
    central_broker: {
      url: "mqtt://127.0.0.1:11884",
      embedded: { enabled: true, host: "127.0.0.1" },
    },
    topics: { root: "kpm33b" },
    meters: { timezone: "Europe/Vienna" },
  });
}

const CLOCKS = "Meter clocks are set to Europe/Vienna time (meters.timezone; by default this " +
  "machine's time zone)";
const TOPICS =
  "Topics: kpm33b/<id>/seconds, kpm33b/<id>/minutes, kpm33b/discovery/<id>, kpm33b/bridge/state";
const EMBEDDED_CENTRAL = "Readings go to the embedded central broker on 127.0.0.1:11884; " +
  "point central_broker.url at your Home Assistant broker to feed it instead";
const DISCOVERY =
  "Home Assistant discovery under homeassistant/, re-sent when homeassistant/status is online";
const STATUS_PAGE = "Status page: http://localhost:8080/ (listening on 0.0.0.0:8080; " +
  "also /metrics, /healthz, /readyz)";
const TRY_IT = "Try it: deno task simulate --broker mqtt://127.0.0.1:11883 and " +
  "mosquitto_sub -p 11884 -t 'kpm33b/#' -v";

Deno.test("the banner of the shipped configuration explains the loopback-only meters' broker", () => {
  assert.deepEqual(banner(shipped()), [
    "Meters' broker: embedded, listening on 127.0.0.1:11883",
    "Meters connect without a password, so the meters' broker accepts local clients only. " +
    "To let meters on the LAN in, set KPM33B_METER_PASSWORD (meters log in as " +
    '"meter") and restart: it then listens on 0.0.0.0 and requires credentials',
    EMBEDDED_CENTRAL,
    CLOCKS,
    TOPICS,
    DISCOVERY,
    STATUS_PAGE,
    TRY_IT,
  ]);
});

Deno.test("the banner names the configured shared meter username", () => {
  const lines = banner(shipped({ username: "kpm" }));
  assert.ok(lines[1]?.includes('(meters log in as "kpm")'), String(lines[1]));
});

Deno.test("with a meter password the meters' broker listens on the LAN and meters must log in", () => {
  assert.deepEqual(banner(shipped({ password: "meter-secret" })), [
    "Meters' broker: embedded, listening on 0.0.0.0:11883",
    'Meters must log in (shared user "meter", 0 accounts bound to meter ids)',
    EMBEDDED_CENTRAL,
    CLOCKS,
    TOPICS,
    DISCOVERY,
    STATUS_PAGE,
    TRY_IT,
  ]);
});

Deno.test("the banner never shows the meter password", () => {
  const text = banner(shipped({ password: "meter-secret" })).join("\n");
  assert.ok(!text.includes("meter-secret"));
});

Deno.test("with bound accounts only, the shared user is shown as disabled", () => {
  const lines = banner(shipped({
    accounts: { [A]: { password: "a-secret" }, [B]: { username: "panel-b", password: "b-secret" } },
  }));
  assert.equal(lines[0], "Meters' broker: embedded, listening on 0.0.0.0:11883");
  assert.equal(
    lines[1],
    'Meters must log in (shared user "meter" disabled, 2 accounts bound to meter ids)',
  );
  assert.ok(!lines.join("\n").includes("a-secret"));
});

Deno.test("the banner shows the TLS listener of the meters' broker and explicit ports", () => {
  const config = Config.parse({
    internal_broker: {
      url: "mqtt://192.0.2.10:21883",
      embedded: {
        enabled: true,
        port: 21883,
        host: "192.0.2.10",
        tls: { port: 8883, cert_file: "cert.pem", key_file: "key.pem" },
      },
      meter_auth: { password: "meter-secret" },
    },
    central_broker: { url: "mqtt://127.0.0.1:21884", embedded: { enabled: true, port: 21884 } },
    topics: { root: "site1" },
    meters: { timezone: "Europe/Vienna" },
  });
  assert.deepEqual(banner(config), [
    "Meters' broker: embedded, listening on 192.0.2.10:21883 and 192.0.2.10:8883 (TLS)",
    'Meters must log in (shared user "meter", 0 accounts bound to meter ids)',
    "Readings go to the embedded central broker on 127.0.0.1:21884; " +
    "point central_broker.url at your Home Assistant broker to feed it instead",
    CLOCKS,
    "Topics: site1/<id>/seconds, site1/<id>/minutes, site1/discovery/<id>, site1/bridge/state",
    DISCOVERY,
    STATUS_PAGE,
    "Try it: deno task simulate --broker mqtt://192.0.2.10:21883 and " +
    "mosquitto_sub -p 21884 -t 'site1/#' -v",
  ]);
});

Deno.test("external brokers are shown by URL without their credentials", () => {
  const config = Config.parse({
    internal_broker: { url: "mqtt://bridge:hunter2@mosquitto.lan:1883" },
    central_broker: { url: "mqtts://ha:s3cret@homeassistant.local:8883" },
    meters: { timezone: "Europe/Vienna" },
  });
  const lines = banner(config);
  assert.equal(lines.length, 7);
  assert.deepEqual(lines.slice(0, 6), [
    "Meters' broker: mqtt://mosquitto.lan:1883",
    "Readings go to mqtts://homeassistant.local:8883",
    CLOCKS,
    TOPICS,
    DISCOVERY,
    STATUS_PAGE,
  ]);
  const text = lines.join("\n");
  for (const secret of ["hunter2", "s3cret", "bridge:", "ha:"]) {
    assert.ok(!text.includes(secret), secret);
  }
});

Deno.test("external brokers without credentials are shown as configured", () => {
  const lines = banner(Config.parse({
    internal_broker: { url: "mqtt://mosquitto.lan:1883" },
    central_broker: { url: "mqtt://homeassistant.local:1884" },
  }));
  assert.equal(lines[0], "Meters' broker: mqtt://mosquitto.lan:1883");
  assert.equal(lines[1], "Readings go to mqtt://homeassistant.local:1884");
});

Deno.test("an external central broker next to the embedded meters' broker", () => {
  const config = Config.parse({
    internal_broker: { url: "mqtt://127.0.0.1:11883", embedded: { enabled: true } },
    central_broker: { url: "mqtt://user:pw@homeassistant.local:1883" },
  });
  assert.deepEqual(banner(config).slice(0, 3), [
    "Meters' broker: embedded, listening on 127.0.0.1:11883",
    banner(shipped())[1],
    "Readings go to mqtt://homeassistant.local:1883",
  ]);
});

Deno.test("the try-it line names external brokers by host, with the scheme's default port", () => {
  const lines = banner(Config.parse({
    internal_broker: { url: "mqtt://mosquitto.lan" },
    central_broker: { url: "mqtt://homeassistant.local" },
  }));
  assert.equal(
    lines.at(-1),
    "Try it: deno task simulate --broker mqtt://mosquitto.lan:1883 and " +
      "mosquitto_sub -h homeassistant.local -p 1883 -t 'kpm33b/#' -v",
  );
});

Deno.test("the banner names the HTTP address and discovery prefix, or says they are off", () => {
  const on = banner(Config.parse({
    http: { host: "192.0.2.5", port: 9090 },
    homeassistant: { discovery_prefix: "ha", status_topic: "ha/status" },
  }));
  assert.ok(on.includes("Home Assistant discovery under ha/, re-sent when ha/status is online"));
  assert.ok(on.includes(
    "Status page: http://192.0.2.5:9090/ (listening on 192.0.2.5:9090; " +
      "also /metrics, /healthz, /readyz)",
  ));
  const off = banner(Config.parse({ http: { enabled: false }, homeassistant: { enabled: false } }));
  assert.ok(off.includes("Home Assistant discovery is off (homeassistant.enabled)"));
  assert.ok(off.includes("HTTP endpoint is off (http.enabled)"));
});

Deno.test("a replica names its share group and its own state topic", () => {
  const lines = banner(Config.parse({
    internal_broker: { url: "mqtt://emqx.cluster:1883" },
    central_broker: { url: "mqtt://emqx.cluster:1883" },
    cluster: { share_group: "kpm33b", replica: "kpm33b-bridge-1" },
  }));
  assert.ok(
    lines.includes(
      "Replica kpm33b-bridge-1 of share group kpm33b: takes the meters the broker routes to it " +
        "($share/kpm33b/MQTT_RT_DATA, …); its own topics are under kpm33b/bridge/replicas/kpm33b-bridge-1/",
    ),
    lines.join("\n"),
  );
  assert.ok(lines.some((line) => line.endsWith(", kpm33b/bridge/replicas/kpm33b-bridge-1/state")));
});
