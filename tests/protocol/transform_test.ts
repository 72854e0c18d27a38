import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeReading } from "../../src/protocol/decode.ts";
import { MeterClock } from "../../src/protocol/meter_time.ts";
import { MeterId, type MeterModel, modelOf } from "../../src/protocol/meter_id.ts";
import { LAYOUTS, type Reading } from "../../src/protocol/reading.ts";
import { DAY_TAGS, ENERGY_TAGS, INSTANT_TAGS } from "../../src/protocol/tags.ts";
import {
  encodeReadingPayload,
  FIELD_GROUP_TAGS,
  FieldGroup,
  type OutputShape,
  payloadFields,
  Profile,
} from "../../src/protocol/transform.ts";
import type { ReadingLevel, ReadingTopic } from "../../src/protocol/uplink.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url);
const clock = new MeterClock("Europe/Vienna");
const DEFAULT: OutputShape = { profile: "default", fields: [] };
const FULL: OutputShape = { profile: "full", fields: [] };

function decodeFixture(topic: ReadingTopic, name: string): Reading {
  const result = decodeReading(topic, Deno.readFileSync(new URL(name, FIXTURES)), 65536);
  assert.equal("ok" in result, false, JSON.stringify(result));
  return result as Reading;
}

function publish(reading: Reading, shape: OutputShape, model: MeterModel = "KPM33B"): string {
  return encodeReadingPayload(
    reading,
    clock.isoTimestamp(reading.time),
    payloadFields(reading.level, shape, model),
  );
}

function publishParsed(reading: Reading, shape: OutputShape, model?: MeterModel) {
  return JSON.parse(publish(reading, shape, model)) as Record<string, unknown>;
}

Deno.test("default seconds payload is exactly id, time, timestamp, active_power", () => {
  const reading = decodeFixture("MQTT_RT_DATA", "MQTT_RT_DATA.json");
  const text = publish(reading, DEFAULT);
  assert.equal(
    text,
    '{"id":"33B1225950027","time":"20260112163900","timestamp":"2026-01-12T16:39:00+01:00","active_power":6.6905}',
  );
  const payload = JSON.parse(text);
  assert.deepEqual(Object.keys(payload), ["id", "time", "timestamp", "active_power"]);
  assert.deepEqual(payload, {
    id: "33B1225950027",
    time: "20260112163900",
    timestamp: "2026-01-12T16:39:00+01:00",
    active_power: 6.6905,
  });
});

Deno.test("default minutes payload is exactly id, time, timestamp, active_energy", () => {
  const reading = decodeFixture("MQTT_ENY_NOW", "MQTT_ENY_NOW.json");
  const payload = publishParsed(reading, DEFAULT);
  assert.deepEqual(Object.keys(payload), ["id", "time", "timestamp", "active_energy"]);
  assert.deepEqual(payload, {
    id: "33B1225950027",
    time: "20260117211500",
    timestamp: "2026-01-17T21:15:00+01:00",
    active_energy: 163.486,
  });
});

Deno.test("default day payload carries active_energy", () => {
  const reading = decodeReading(
    "MQTT_DAY_DATA",
    new TextEncoder().encode(
      '{"id":"37A1225950001","time":"20260717000000","zygdd":12.5,"fygdd":1}',
    ),
    65536,
  ) as Reading;
  assert.deepEqual(publishParsed(reading, DEFAULT, "KPM37"), {
    id: "37A1225950001",
    time: "20260717000000",
    timestamp: "2026-07-17T00:00:00+02:00",
    active_energy: 12.5,
  });
});

Deno.test("a missing tag is published as null, not 0 and not absent", () => {
  const seconds = publish(decodeFixture("MQTT_RT_DATA", "MQTT_RT_DATA_missing_data.json"), DEFAULT);
  assert.ok(seconds.endsWith(',"active_power":null}'), seconds);
  const payload = JSON.parse(seconds);
  assert.equal(Object.hasOwn(payload, "active_power"), true);
  assert.equal(payload.active_power, null);

  const minutes = publishParsed(
    decodeFixture("MQTT_ENY_NOW", "MQTT_ENY_NOW_missing_data.json"),
    DEFAULT,
  );
  assert.deepEqual(Object.keys(minutes), ["id", "time", "timestamp", "active_energy"]);
  assert.equal(minutes.active_energy, null);

  const full = publishParsed(decodeFixture("MQTT_ENY_NOW", "MQTT_ENY_NOW_missing_data.json"), FULL);
  assert.equal(full.active_energy, null);
  assert.equal(full.active_energy_t6, null); // never sent by a KPM33B
  assert.equal(full.apparent_energy, 164.331);
});

Deno.test("a real 0 is published as 0", () => {
  const reading = decodeFixture("MQTT_ENY_NOW", "MQTT_ENY_NOW.json");
  const full = publishParsed(reading, FULL);
  assert.equal(full.active_energy_export, 0);
  assert.equal(full.active_energy_t5, 0);
});

Deno.test("per-phase groups add current, power, voltage and power factor fields", () => {
  const reading = decodeFixture("MQTT_RT_DATA", "MQTT_RT_DATA.json");
  const payload = publishParsed(reading, {
    profile: "default",
    fields: ["current", "power", "voltage", "power_factor"],
  });
  assert.deepEqual(Object.keys(payload), [
    "id",
    "time",
    "timestamp",
    "active_power",
    "current_l1",
    "current_l2",
    "current_l3",
    "active_power_l1",
    "active_power_l2",
    "active_power_l3",
    "voltage_l1",
    "voltage_l2",
    "voltage_l3",
    "power_factor_l1",
    "power_factor_l2",
    "power_factor_l3",
    "power_factor",
  ]);
  assert.deepEqual(payload, {
    id: "33B1225950027",
    time: "20260112163900",
    timestamp: "2026-01-12T16:39:00+01:00",
    active_power: 6.6905,
    current_l1: 9.735,
    current_l2: 9.658,
    current_l3: 9.655,
    active_power_l1: 2.2229,
    active_power_l2: 2.2293,
    active_power_l3: 2.2382,
    voltage_l1: 229.097,
    voltage_l2: 231.567,
    voltage_l3: 232.529,
    power_factor_l1: 0.996,
    power_factor_l2: 0.996,
    power_factor_l3: 0.996,
    power_factor: 0.996,
  });
});

Deno.test("each group on its own, in the configured order, without duplicates", () => {
  const reading = decodeFixture("MQTT_RT_DATA", "MQTT_RT_DATA.json");
  const keys = (fields: FieldGroup[]) =>
    Object.keys(publishParsed(reading, { profile: "default", fields })).slice(4);
  assert.deepEqual(keys(["current"]), ["current_l1", "current_l2", "current_l3"]);
  assert.deepEqual(keys(["power"]), ["active_power_l1", "active_power_l2", "active_power_l3"]);
  assert.deepEqual(keys(["voltage"]), ["voltage_l1", "voltage_l2", "voltage_l3"]);
  assert.deepEqual(keys(["power_factor"]), [
    "power_factor_l1",
    "power_factor_l2",
    "power_factor_l3",
    "power_factor",
  ]);
  assert.deepEqual(keys(["voltage", "current"]), [
    "voltage_l1",
    "voltage_l2",
    "voltage_l3",
    "current_l1",
    "current_l2",
    "current_l3",
  ]);
  assert.deepEqual(keys(["current", "current"]), ["current_l1", "current_l2", "current_l3"]);
});

Deno.test("per-phase groups do not change minutes or day payloads", () => {
  const shape: OutputShape = {
    profile: "default",
    fields: ["current", "power", "voltage", "power_factor"],
  };
  const reading = decodeFixture("MQTT_ENY_NOW", "MQTT_ENY_NOW.json");
  assert.deepEqual(Object.keys(publishParsed(reading, shape)), [
    "id",
    "time",
    "timestamp",
    "active_energy",
  ]);
  assert.deepEqual(payloadFields("day", shape, "KPM37").map(([, name]) => name), ["active_energy"]);
});

Deno.test("group tags are instantaneous tags", () => {
  for (const [group, tags] of Object.entries(FIELD_GROUP_TAGS)) {
    assert.ok(FieldGroup.safeParse(group).success, group);
    for (const tag of tags) assert.ok(tag in INSTANT_TAGS, `${group}: ${tag}`);
  }
  assert.deepEqual(FieldGroup.options, ["current", "power", "voltage", "power_factor"]);
  assert.deepEqual(Profile.options, ["default", "full"]);
  assert.equal(FieldGroup.safeParse("frequency").success, false);
});

const DICTIONARIES: Record<ReadingLevel, Record<string, { name: string; extended?: boolean }>> = {
  seconds: INSTANT_TAGS,
  minutes: ENERGY_TAGS,
  day: DAY_TAGS,
};

function fullNames(level: ReadingLevel, model: MeterModel): string[] {
  return payloadFields(level, FULL, model).map(([, name]) => name);
}

Deno.test("full profile for a KPM33B: every non-extended tag, no extended ones", () => {
  for (const level of ["seconds", "minutes", "day"] as const) {
    const names = fullNames(level, "KPM33B");
    const dictionary = Object.values(DICTIONARIES[level]);
    const expected = dictionary.filter((info) => !info.extended).map((info) => info.name);
    assert.deepEqual(names.toSorted(), expected.toSorted(), level);
    for (const info of dictionary.filter((i) => i.extended)) {
      assert.equal(names.includes(info.name), false, `${level}: ${info.name}`);
    }
  }
  const seconds = fullNames("seconds", "KPM33B");
  assert.equal(seconds[0], "active_power"); // the default field comes first
  assert.equal(fullNames("minutes", "KPM33B")[0], "active_energy");
  for (
    const name of ["voltage_l1", "voltage_l1_l2", "frequency", "current_demand_l3", "power_factor"]
  ) {
    assert.ok(seconds.includes(name), name);
  }
  for (
    const name of ["residual_current", "temperature_l1", "temperature_n", "voltage_zero_sequence"]
  ) {
    assert.equal(seconds.includes(name), false, name);
  }
  const minutes = fullNames("minutes", "KPM33B");
  assert.ok(minutes.includes("apparent_energy") && minutes.includes("active_energy_t6"));
  assert.equal(minutes.includes("voltage_thd_l1"), false);
  assert.equal(minutes.includes("max_active_power_demand"), false);
});

Deno.test("full profile for KPM37 and KPM312 includes the extended tags", () => {
  for (const id of ["37A1225950001", "3121225950001"]) {
    const model = modelOf(MeterId.parse(id));
    assert.ok(model === "KPM37" || model === "KPM312");
    for (const level of ["seconds", "minutes", "day"] as const) {
      const names = fullNames(level, model);
      assert.deepEqual(
        names.toSorted(),
        Object.values(DICTIONARIES[level]).map((i) => i.name).toSorted(),
        `${model} ${level}`,
      );
    }
    assert.ok(fullNames("seconds", model).includes("residual_current"));
    assert.ok(fullNames("seconds", model).includes("current_negative_sequence"));
    assert.ok(fullNames("minutes", model).includes("voltage_harmonic_7_l3"));
  }
  for (const model of ["KPM31", "KPM33A", "unknown"] as const) {
    assert.equal(fullNames("seconds", model).includes("residual_current"), false, model);
  }
});

Deno.test("full profile payload of the RT fixture carries every value under its name", () => {
  const reading = decodeFixture("MQTT_RT_DATA", "MQTT_RT_DATA.json");
  const payload = publishParsed(reading, FULL, "KPM33B");
  const source = JSON.parse(Deno.readTextFileSync(new URL("MQTT_RT_DATA.json", FIXTURES)));
  for (const [tag, info] of Object.entries(INSTANT_TAGS)) {
    if (info.extended) continue;
    assert.equal(payload[info.name], tag in source ? source[tag] : null, `${tag} → ${info.name}`);
  }
  assert.equal(payload.active_power, 6.6905);
  assert.equal(payload.reactive_power, -0.493);
  assert.equal(payload.voltage_l2_l3, 401.92);
});

Deno.test("published names are unique within each level and profile", () => {
  for (const level of ["seconds", "minutes", "day"] as const) {
    for (const model of ["KPM33B", "KPM37", "KPM312"] as const) {
      const names = fullNames(level, model);
      assert.equal(new Set(names).size, names.length, `${level} ${model}`);
      for (const reserved of ["id", "time", "timestamp"]) {
        assert.equal(names.includes(reserved), false);
      }
    }
    const all = Object.values(DICTIONARIES[level]).map((i) => i.name);
    assert.equal(new Set(all).size, all.length, level);
  }
});

Deno.test("payloadFields maps to the right value positions", () => {
  for (const level of ["seconds", "minutes", "day"] as const) {
    for (const [i, name] of payloadFields(level, FULL, "KPM37")) {
      assert.equal(LAYOUTS[level]?.info[i]?.name, name);
    }
  }
});

Deno.test("property: encoded payloads are valid JSON carrying every finite value exactly", () => {
  const layout = LAYOUTS.seconds;
  const value = fc.oneof(
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constant(NaN),
    fc.constantFrom(0, -0, 1e21, 5e-324, -1.7976931348623157e308),
  );
  fc.assert(
    fc.property(
      fc.array(value, { minLength: layout.tags.length, maxLength: layout.tags.length }),
      (values) => {
        const reading: Reading = {
          level: "seconds",
          id: MeterId.parse("37A1225950001"),
          time: "20261025023000",
          final: true,
          values,
        };
        const fields = payloadFields("seconds", FULL, "KPM37");
        const payload = JSON.parse(
          encodeReadingPayload(reading, "2026-10-25T02:30:00+02:00", fields),
        );
        assert.equal(payload.id, "37A1225950001");
        assert.equal(payload.timestamp, "2026-10-25T02:30:00+02:00");
        assert.equal(Object.keys(payload).length, 3 + fields.length);
        for (const [i, name] of fields) {
          const expected = Number.isNaN(values[i]) ? null : values[i] === 0 ? 0 : values[i];
          assert.equal(payload[name], expected, name);
        }
      },
    ),
    { numRuns: 300 },
  );
});
