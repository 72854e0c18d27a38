import assert from "node:assert/strict";
import { meterSettings } from "../../src/config/meter_settings.ts";
import { parseConfig } from "../../src/config/load.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";

const A = MeterId.parse("33B1225950027");
const B = MeterId.parse("33B1225950028");
const C = MeterId.parse("33B1225950029");

function meters(yaml: string) {
  return parseConfig(yaml, "config.yaml", () => undefined).meters;
}

const CONFIG = meters(`meters:
  upload_interval_seconds: 300
  upload_interval_minutes: 15
  profile: default
  fields: [current]
  names:
    33B1225950027: Kitchen
    33B1225950029: Heat pump
  overrides:
    33B1225950027:
      upload_interval_seconds: 30
      profile: full
    33B1225950028:
      upload_interval_minutes: 1440
      fields: [voltage, power_factor]
`);

Deno.test("without an override a meter gets the global settings", () => {
  assert.deepEqual(meterSettings(CONFIG, C), {
    profile: "default",
    fields: ["current"],
    uploadIntervalSeconds: 300,
    uploadIntervalMinutes: 15,
    name: "Heat pump",
    availabilityTimeoutSeconds: 750,
    relayControl: false,
  });
});

Deno.test("override values win over the globals, the rest is inherited", () => {
  assert.deepEqual(meterSettings(CONFIG, A), {
    profile: "full",
    fields: ["current"],
    uploadIntervalSeconds: 30,
    uploadIntervalMinutes: 15,
    name: "Kitchen",
    availabilityTimeoutSeconds: 75,
    relayControl: false,
  });
  assert.deepEqual(meterSettings(CONFIG, B), {
    profile: "default",
    fields: ["voltage", "power_factor"],
    uploadIntervalSeconds: 300,
    uploadIntervalMinutes: 1440,
    name: undefined,
    availabilityTimeoutSeconds: 750,
    relayControl: false,
  });
});

Deno.test("an empty fields override replaces the global fields", () => {
  const config = meters(
    "meters:\n  fields: [current, power]\n  overrides:\n    33B1225950027:\n      fields: []\n",
  );
  assert.deepEqual(meterSettings(config, A).fields, []);
  assert.deepEqual(meterSettings(config, B).fields, ["current", "power"]);
});

Deno.test("defaults when nothing is configured", () => {
  assert.deepEqual(meterSettings(meters("{}"), A), {
    profile: "default",
    fields: [],
    uploadIntervalSeconds: 60,
    uploadIntervalMinutes: 1,
    name: undefined,
    availabilityTimeoutSeconds: 150,
    relayControl: false,
  });
});

Deno.test("availability timeout: interval × availability_factor, rounded up, or the fixed timeout", () => {
  assert.equal(
    meterSettings(meters("meters:\n  availability_factor: 1.01\n"), A).availabilityTimeoutSeconds,
    61,
  );
  const fixed = meters(
    "meters:\n  availability_timeout_seconds: 7\n  upload_interval_seconds: 300\n",
  );
  assert.equal(meterSettings(fixed, A).availabilityTimeoutSeconds, 7);
});

Deno.test("relay control only for meters on the allow-list", () => {
  const config = meters("meters:\n  relay_control: [33B1225950027]\n");
  assert.equal(meterSettings(config, A).relayControl, true);
  assert.equal(meterSettings(config, B).relayControl, false);
});

Deno.test("names are looked up by exact id", () => {
  assert.equal(meterSettings(CONFIG, A).name, "Kitchen");
  assert.equal(meterSettings(CONFIG, MeterId.parse("33B1225950270")).name, undefined);
});
