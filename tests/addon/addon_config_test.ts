import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import {
  ADDON_LAYOUT,
  addonConfig,
  AddonConfigError,
  addonConfigText,
} from "../../src/addon/addon_config.ts";
import { parseAddonOptions } from "../../src/addon/addon_options.ts";
import type { MqttServiceLookup } from "../../src/addon/mqtt_service.ts";

const MOSQUITTO: MqttServiceLookup = {
  available: true,
  service: { host: "core-mosquitto", port: 1883, username: "addons", password: "pw", ssl: false },
};
const options = (set: Record<string, unknown> = {}) =>
  parseAddonOptions({ meter_password: "secret", ...set });
const load = (document: Record<string, unknown>) =>
  parseConfig(addonConfigText(document), "kpm33b-bridge.yaml", () => undefined);

Deno.test("central is Home Assistant's broker, the meters' broker embedded on all interfaces with the password", () => {
  const config = load(addonConfig(options(), MOSQUITTO));
  assert.equal(config.central_broker.url, "mqtt://core-mosquitto:1883");
  assert.equal(config.central_broker.username, "addons");
  assert.equal(config.central_broker.password, "pw");
  assert.equal(config.central_broker.embedded.enabled, false);
  assert.equal(config.internal_broker.url, `mqtt://127.0.0.1:${ADDON_LAYOUT.metersPort}`);
  assert.deepEqual(config.internal_broker.embedded, { enabled: true, host: "0.0.0.0" });
  assert.equal(config.internal_broker.meter_auth.password, "secret");
  assert.equal(config.state_dir, "/data/state");
  assert.deepEqual([config.http.host, config.http.port], ["0.0.0.0", ADDON_LAYOUT.httpPort]);
});

Deno.test("an ssl service is mqtts; an IPv6 host is bracketed", () => {
  const tls = addonConfig(options(), {
    available: true,
    service: { host: "fd00::1", port: 8883, ssl: true },
  });
  assert.equal((tls.central_broker as { url: string }).url, "mqtts://[fd00::1]:8883");
});

Deno.test("time zone, names, relay control, log level and overrides reach the configuration", () => {
  const config = load(addonConfig(
    options({
      timezone: "Europe/Vienna",
      meter_names: [{ id: "33B1225950027", name: "Heat ${pump}" }],
      relay_control: ["33B1225950027"],
      log_level: "debug",
      config_overrides: "meters: {upload_interval_seconds: 30}\ntopics: {root: energy}",
    }),
    MOSQUITTO,
  ));
  assert.equal(config.meters.timezone, "Europe/Vienna");
  assert.deepEqual(config.meters.names, { "33B1225950027": "Heat ${pump}" });
  assert.deepEqual(config.meters.relay_control, ["33B1225950027"]);
  assert.equal(config.logging.level, "debug");
  assert.equal(config.meters.upload_interval_seconds, 30);
  assert.equal(config.topics.root, "energy");
});

Deno.test("overrides may name another central broker, needing no MQTT service then", () => {
  const config = load(addonConfig(
    options({ config_overrides: "central_broker: {url: 'mqtt://nas:1883', username: u}" }),
    { available: false, reason: "Service not enabled" },
  ));
  assert.equal(config.central_broker.url, "mqtt://nas:1883");
  assert.equal(config.central_broker.username, "u");
  assert.equal(config.central_broker.password, undefined);
});

Deno.test("without broker, password or valid overrides: an error naming the option and what to do", () => {
  const none: MqttServiceLookup = { available: false, reason: "Service not enabled" };
  assert.throws(
    () => addonConfig(options(), none),
    (error) => error instanceof AddonConfigError && /Mosquitto broker add-on/.test(error.message),
  );
  assert.throws(() => addonConfig(options({ meter_password: "" }), MOSQUITTO), /meter_password/);
  assert.throws(
    () => addonConfig(options({ config_overrides: "state_dir: /tmp" }), MOSQUITTO),
    /config_overrides may not set state_dir/,
  );
  assert.throws(
    () => addonConfig(options({ config_overrides: "http: {port: 9000}" }), MOSQUITTO),
    /may not set http\.port/,
  );
  assert.throws(() => addonConfig(options({ config_overrides: "[1, 2]" }), MOSQUITTO), /keys of/);
  assert.throws(
    () => addonConfig(options({ config_overrides: "a: [" }), MOSQUITTO),
    /not valid YAML/,
  );
});

Deno.test("a value holding ${ is written literally, never read as an environment reference", () => {
  const text = addonConfigText(addonConfig(options({ meter_password: "a${HOME}b" }), MOSQUITTO));
  assert.equal(
    load(addonConfig(options({ meter_password: "a${HOME}b" }), MOSQUITTO))
      .internal_broker.meter_auth.password,
    "a${HOME}b",
  );
  assert.ok(text.includes("a$${HOME}b"), text);
});
