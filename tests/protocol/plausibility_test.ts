import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/config/config_error.ts";
import { decodeReading } from "../../src/protocol/decode.ts";
import { MeterClock } from "../../src/protocol/meter_time.ts";
import {
  CUMULATIVE_INDICES,
  describeDuration,
  Plausibility,
  PlausibilityCheck,
} from "../../src/protocol/plausibility.ts";
import { LAYOUTS, type Reading } from "../../src/protocol/reading.ts";
import type { ReadingLevel } from "../../src/protocol/uplink.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url);
const sample = (topic: string) =>
  decodeReading(
    topic,
    Deno.readFileSync(new URL(`${topic}.json`, FIXTURES)),
    65536,
  ) as Reading;

const DEFAULTS = Plausibility.parse({});
const check = new PlausibilityCheck(DEFAULTS);
const UTC = new MeterClock("UTC");
const NOW = Date.parse("2026-12-07T12:00:00Z");

function values(level: ReadingLevel, tags: Record<string, number>): number[] {
  const layout = LAYOUTS[level];
  const out = new Array<number>(layout.tags.length).fill(NaN);
  for (const [tag, value] of Object.entries(tags)) out[layout.index.get(tag)!] = value;
  return out;
}

Deno.test("the defaults: generous bounds, documented in config.yaml", () => {
  assert.deepEqual(DEFAULTS, {
    max_energy_kwh: 1_000_000_000,
    max_power_kw: 10_000,
    max_voltage_v: 1_000_000,
    max_current_a: 1_000_000,
    max_frequency_hz: 100,
    max_power_factor: 1.05,
    max_clock_ahead_seconds: 86_400,
    earliest_year: 2000,
  });
  const shipped = Deno.readTextFileSync(new URL("../../config.yaml", import.meta.url));
  for (const [key, value] of Object.entries(DEFAULTS)) {
    assert.match(shipped, new RegExp(`#?\\s*${key}: ${value}\\b`), `config.yaml documents ${key}`);
  }
});

Deno.test("real readings of every level are plausible", () => {
  for (const topic of ["MQTT_RT_DATA", "MQTT_ENY_NOW"]) {
    const reading = sample(topic);
    assert.equal(check.values(reading.level, reading.values), undefined, topic);
  }
  // Negative reactive power, power factor and export register values of zero are real.
  assert.equal(
    check.values("seconds", values("seconds", { zwggl: -0.49, zglys: -0.996, ixja: 355.7 })),
    undefined,
  );
});

Deno.test("each quantity is bounded, and the message names the setting", () => {
  const cases: Array<[ReadingLevel, string, number, RegExp]> = [
    [
      "minutes",
      "zygsz",
      1e300,
      /active_energy \(zygsz\) 1e\+300 kWh is outside 0 … 1000000000 kWh \(meters\.plausibility\.max_energy_kwh\)/,
    ],
    ["minutes", "zygsz", -0.001, /max_energy_kwh/],
    ["minutes", "zwgsz", 2e9, /reactive_energy \(zwgsz\) 2000000000 kvarh/],
    ["day", "zygdd", 1e12, /max_energy_kwh/],
    [
      "seconds",
      "zyggl",
      10_001,
      /active_power \(zyggl\) 10001 kW is outside -10000 … 10000 kW \(meters\.plausibility\.max_power_kw\)/,
    ],
    ["seconds", "zwggl", -10_001, /max_power_kw/],
    ["minutes", "dmpmax", 1e6, /max_power_kw/],
    ["seconds", "ua", 1e7, /voltage_l1 \(ua\) 10000000 V .*max_voltage_v/],
    ["seconds", "ua", -1, /max_voltage_v/],
    ["seconds", "ia", -2e6, /max_current_a/],
    ["seconds", "f", 101, /frequency \(f\) 101 Hz is outside 0 … 100 Hz/],
    [
      "seconds",
      "zglys",
      1.5,
      /power_factor \(zglys\) 1.5 is outside -1.05 … 1.05 \(meters\.plausibility\.max_power_factor\)/,
    ],
    ["seconds", "uxja", 400, /voltage_angle_l1 \(uxja\) 400 ° is outside -360 … 360 °$/],
    ["seconds", "ta", 5000, /temperature_l1/],
    ["minutes", "uathd", 1e9, /voltage_thd_l1/],
  ];
  for (const [level, tag, value, reason] of cases) {
    const found = check.values(level, values(level, { [tag]: value }));
    assert.equal(found?.code, "implausible_value", `${tag} ${value}`);
    assert.match(found.reason, reason);
  }
  // At the bounds themselves, and without a value (NaN), nothing is implausible.
  // A power factor a meter rounded to 1.001 is fine.
  const edge = values("seconds", { zyggl: -10_000, f: 0, zglys: 1.001, ua: 1_000_000 });
  assert.equal(check.values("seconds", edge), undefined);
  assert.equal(check.values("seconds", values("seconds", {})), undefined);
});

Deno.test("bounds follow the configuration", () => {
  const home = new PlausibilityCheck(Plausibility.parse({ max_power_kw: 50, max_voltage_v: 500 }));
  assert.equal(home.values("seconds", values("seconds", { zyggl: 49 })), undefined);
  assert.match(home.values("seconds", values("seconds", { zyggl: 51 }))!.reason, /-50 … 50 kW/);
  assert.match(home.values("seconds", values("seconds", { ub: 501 }))!.reason, /0 … 500 V/);
});

Deno.test("times: factory clocks in 2005 pass; before the floor and far ahead do not", () => {
  const at = (time: string, drift = 0) => check.time(time, UTC.instantOf(time), NOW, drift);
  assert.equal(at("20051231235959"), undefined);
  assert.equal(at("20261207120000"), undefined);
  // Up to a day ahead is tolerated (a gateway clock that booted stale, a meter in another zone).
  assert.equal(at("20261208115959"), undefined);
  const ahead = at("20261208120100");
  assert.equal(ahead?.code, "implausible_time");
  assert.match(
    ahead.reason,
    /^time 20261208120100 is 24\.0 h ahead of the gateway clock \(more than meters\.plausibility\.max_clock_ahead_seconds: 86400\); the meter's clock is set$/,
  );
  assert.match(at("20991231235959")!.reason, /is 73 years ahead/);
  assert.match(at("99991231235959")!.reason, /ahead of the gateway clock/);
  assert.equal(
    at("00000101000000")?.reason,
    "time 00000101000000 is before the year 2000 (meters.plausibility.earliest_year); the " +
      "meter's clock is set",
  );
  assert.equal(at("19991231235959")?.code, "implausible_time");
});

Deno.test("known drift counts up to one margin: readings cannot walk a clock into the future", () => {
  const day = 86_400_000;
  for (const days of [1.5, 1.99]) {
    const time = meterTime(NOW + days * day);
    assert.equal(check.time(time, UTC.instantOf(time), NOW, 0.99 * day), undefined, `${days}`);
  }
  // A meter accepted 23 h ahead, then 46 h, then 69 h …: the third step is refused.
  const [, second, third] = [23, 46, 69].map((hours) => meterTime(NOW + hours * 3_600_000));
  assert.ok(second !== undefined && third !== undefined);
  assert.equal(check.time(second, UTC.instantOf(second), NOW, 23 * 3_600_000), undefined);
  assert.equal(
    check.time(third, UTC.instantOf(third), NOW, 46 * 3_600_000)?.code,
    "implausible_time",
  );
});

/** The UTC meter time of an instant. */
function meterTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\D/g, "").slice(0, 14);
}

Deno.test("a clock known to run ahead keeps working; a jump beyond it does not", () => {
  const twenty = 20 * 3_600_000;
  const time = "20261209000000"; // 36 hours ahead
  assert.equal(check.time(time, UTC.instantOf(time), NOW)?.code, "implausible_time");
  assert.equal(check.time(time, UTC.instantOf(time), NOW, twenty), undefined);
  const further = "20261209120000";
  assert.equal(check.time(further, UTC.instantOf(further), NOW, twenty)?.code, "implausible_time");
  // A clock known to run behind gives no extra room ahead.
  const late = "20261208130000";
  assert.equal(check.time(late, UTC.instantOf(late), NOW, -twenty)?.code, "implausible_time");
});

Deno.test("a gateway clock not set yet (1970 after a boot without RTC) rejects nothing as ahead", () => {
  const time = "20261207120000";
  assert.equal(
    check.time(time, UTC.instantOf(time), Date.parse("1970-01-01T00:05:00Z")),
    undefined,
  );
  assert.equal(check.time("19990101000000", 0, 300_000)?.code, "implausible_time");
});

Deno.test("an energy register rises at most max_power_kw × twice the time, at least 10 s", () => {
  const registers = (kwh: number) => CUMULATIVE_INDICES.minutes.map((_, r) => r === 0 ? kwh : NaN);
  const home = new PlausibilityCheck(Plausibility.parse({ max_power_kw: 60 }));
  const from = { registers: registers(100), instant: NOW, at: NOW };
  const after = (seconds: number, kwh: number, gatewaySeconds = seconds) => ({
    registers: registers(kwh),
    instant: NOW + seconds * 1000,
    at: NOW + gatewaySeconds * 1000,
  });
  // 60 kW for an hour, twice: 120 kWh.
  assert.equal(home.rise("minutes", from, after(3600, 220)), undefined);
  assert.match(
    home.rise("minutes", from, after(3600, 220.1))!,
    /^active_energy \(zygsz\) would rise from 100 to 220\.1 kWh within 60 min, more than 60 kW \(meters\.plausibility\.max_power_kw\) could$/,
  );
  // At least 10 s: 0.33 kWh, also for the same meter time (a newer value) or a clock set back.
  assert.equal(home.rise("minutes", from, after(0, 100.33)), undefined);
  assert.match(home.rise("minutes", from, after(0, 100.34))!, /within 10 s/);
  assert.ok(home.rise("minutes", from, after(-600, 100.5, 0)));
  // Readings queued while the bridge was away arrive at once: the meter's time counts.
  assert.equal(home.rise("minutes", from, after(3600, 200, 1)), undefined);
  // A meter clock set meanwhile: the gateway's time counts.
  assert.equal(home.rise("minutes", from, after(-7200, 200, 3600)), undefined);
  // Unknown arrival (a history stored by an earlier version): not judged.
  assert.equal(home.rise("minutes", { ...from, at: undefined }, after(60, 1e6)), undefined);
  // Going down is not a rise.
  assert.equal(home.rise("minutes", from, after(60, 0)), undefined);
});

Deno.test("configuration errors name the key and what is allowed", () => {
  const error = (yaml: string) => {
    try {
      parseConfig(yaml, "config.yaml", () => undefined);
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.message;
    }
    assert.fail(`accepted: ${yaml}`);
  };
  assert.match(
    error("meters:\n  plausibility:\n    max_power_kw: -5\n"),
    /config\.yaml:3:19 meters\.plausibility\.max_power_kw: must be greater than 0/,
  );
  assert.match(
    error("meters:\n  plausibility:\n    earliest_year: 1900\n"),
    /meters\.plausibility\.earliest_year: must be at least 1970/,
  );
  assert.match(
    error("meters:\n  plausibility:\n    max_clock_ahead: 60\n"),
    /meters\.plausibility\.max_clock_ahead: unknown key/,
  );
  assert.match(
    error("meters:\n  reset_confirm_readings: 0\n"),
    /meters\.reset_confirm_readings: must be at least 1/,
  );
});

Deno.test("durations read as a person would say them", () => {
  assert.equal(describeDuration(45_000), "45 s");
  assert.equal(describeDuration(-45_000), "45 s");
  assert.equal(describeDuration(600_000), "10 min");
  assert.equal(describeDuration(3 * 3_600_000), "3.0 h");
  assert.equal(describeDuration(30 * 86_400_000), "30 days");
  assert.equal(describeDuration(73 * 365.25 * 86_400_000), "73 years");
});
