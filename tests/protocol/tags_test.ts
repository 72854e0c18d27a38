import assert from "node:assert/strict";
import {
  CUMULATIVE_ENERGY_TAGS,
  DAY_TAGS,
  ENERGY_TAGS,
  INSTANT_TAGS,
  type TagInfo,
  type Unit,
} from "../../src/protocol/tags.ts";

type Expected = Record<string, Unit | null>;

const phases = (make: (p: string) => string) => ["a", "b", "c"].map(make);
const withUnit = (tags: string[], unit: Unit | null): Expected =>
  Object.fromEntries(tags.map((tag) => [tag, unit]));

// Tags and units as listed in the protocol reference (compere-mqtt.md).
const REFERENCE_INSTANT: Expected = {
  ...withUnit(["ua", "ub", "uc", "uab", "ubc", "uca"], "V"),
  ...withUnit(["ia", "ib", "ic"], "A"),
  ...withUnit(["pa", "pb", "pc", "zyggl"], "kW"),
  ...withUnit(["qa", "qb", "qc", "zwggl"], "kvar"),
  ...withUnit(["sa", "sb", "sc", "zszgl"], "kVA"),
  ...withUnit(["pfa", "pfb", "pfc", "zglys"], null),
  f: "Hz",
  ...withUnit(["uxja", "uxjb", "uxjc", "ixja", "ixjb", "ixjc"], "°"),
  ...withUnit(["unb", "inb"], "%"),
  pdm: "kW",
  qdm: "kvar",
  sdm: "kVA",
  ...withUnit(["iadm", "ibdm", "icdm"], "A"),
  ig: "A",
  ...withUnit(["ta", "tb", "tc", "tn"], "°C"),
  ...withUnit(["U0", "U+", "U-"], "V"),
  ...withUnit(["I0", "I+", "I-"], "A"),
};
const INSTANT_EXTENDED = ["ig", "ta", "tb", "tc", "tn", "U0", "U+", "U-", "I0", "I+", "I-"];

const TARIFF_CODES = ["j", "f", "p", "v", "dv", "6"];
const TARIFF_REGISTERS = TARIFF_CODES.flatMap((code) => [`zy${code}sz`, `fy${code}sz`]);
const HARMONICS = [
  ...phases((p) => `u${p}thd`),
  ...phases((p) => `i${p}thd`),
  ...[3, 4, 5, 6, 7].flatMap((
    n,
  ) => [...phases((p) => `u${p}xbl${n}`), ...phases((p) => `i${p}xb${n}`)]),
];

const REFERENCE_ENERGY: Expected = {
  ...withUnit(["zygsz", "fygsz"], "kWh"),
  ...withUnit(["zwgsz", "fwgsz"], "kvarh"),
  zszsz: "kVAh",
  ...withUnit(TARIFF_REGISTERS, "kWh"),
  dmpmax: "kW",
  dmsmax: "kVA",
  ...withUnit(HARMONICS, "%"),
};
const ENERGY_EXTENDED = ["dmpmax", "dmsmax", ...HARMONICS];

const REFERENCE_DAY: Expected = {
  ...withUnit(["zygdd", "fygdd"], "kWh"),
  ...withUnit(["zwgdd", "fwgdd"], "kvarh"),
  ...withUnit(TARIFF_REGISTERS, "kWh"),
};

const CASES: Array<[string, Readonly<Record<string, TagInfo>>, Expected, string[]]> = [
  ["INSTANT_TAGS", INSTANT_TAGS, REFERENCE_INSTANT, INSTANT_EXTENDED],
  ["ENERGY_TAGS", ENERGY_TAGS, REFERENCE_ENERGY, ENERGY_EXTENDED],
  ["DAY_TAGS", DAY_TAGS, REFERENCE_DAY, []],
];

Deno.test("every tag of the protocol reference is in its dictionary with its unit", () => {
  for (const [label, dictionary, reference] of CASES) {
    for (const [tag, unit] of Object.entries(reference)) {
      assert.ok(Object.hasOwn(dictionary, tag), `${label} lacks ${tag}`);
      assert.equal(dictionary[tag]?.unit, unit, `${label} ${tag}`);
    }
  }
  assert.equal(Object.keys(REFERENCE_INSTANT).length, 51);
  assert.equal(HARMONICS.length, 36);
});

Deno.test("dictionaries contain no tag the reference does not name", () => {
  for (const [label, dictionary, reference] of CASES) {
    assert.deepEqual(Object.keys(dictionary).toSorted(), Object.keys(reference).toSorted(), label);
  }
});

Deno.test("the real KPM33B fixtures use only dictionary tags", () => {
  const dir = new URL("../fixtures/", import.meta.url);
  const rt = JSON.parse(Deno.readTextFileSync(new URL("MQTT_RT_DATA.json", dir)));
  const eny = JSON.parse(Deno.readTextFileSync(new URL("MQTT_ENY_NOW.json", dir)));
  for (const tag of Object.keys(rt)) {
    if (!["id", "time", "isend"].includes(tag)) assert.ok(tag in INSTANT_TAGS, tag);
  }
  for (const tag of Object.keys(eny)) {
    if (!["id", "time", "isend"].includes(tag)) assert.ok(tag in ENERGY_TAGS, tag);
  }
});

Deno.test("readable names are unique per dictionary and snake_case", () => {
  for (const [label, dictionary] of CASES) {
    const names = Object.values(dictionary).map((info) => info.name);
    assert.equal(new Set(names).size, names.length, `${label} has duplicate names`);
    for (const name of names) assert.match(name, /^[a-z0-9_]+$/, `${label}: ${name}`);
    for (const reserved of ["id", "time", "timestamp"]) {
      assert.equal(names.includes(reserved), false);
    }
  }
});

Deno.test("readable names of the main tags", () => {
  assert.equal(INSTANT_TAGS.zyggl?.name, "active_power");
  assert.equal(INSTANT_TAGS.ua?.name, "voltage_l1");
  assert.equal(INSTANT_TAGS.uca?.name, "voltage_l3_l1");
  assert.equal(INSTANT_TAGS.ic?.name, "current_l3");
  assert.equal(INSTANT_TAGS.pfb?.name, "power_factor_l2");
  assert.equal(INSTANT_TAGS.zglys?.name, "power_factor");
  assert.equal(INSTANT_TAGS.f?.name, "frequency");
  assert.equal(INSTANT_TAGS.ig?.name, "residual_current");
  assert.equal(INSTANT_TAGS["U-"]?.name, "voltage_negative_sequence");
  assert.equal(ENERGY_TAGS.zygsz?.name, "active_energy");
  assert.equal(ENERGY_TAGS.fygsz?.name, "active_energy_export");
  assert.equal(ENERGY_TAGS.zyjsz?.name, "active_energy_t1");
  assert.equal(ENERGY_TAGS.fydvsz?.name, "active_energy_export_t5");
  assert.equal(ENERGY_TAGS.zy6sz?.name, "active_energy_t6");
  assert.equal(ENERGY_TAGS.ubxbl5?.name, "voltage_harmonic_5_l2");
  assert.equal(ENERGY_TAGS.icxb7?.name, "current_harmonic_7_l3");
  assert.equal(DAY_TAGS.zygdd?.name, "active_energy");
  assert.equal(DAY_TAGS.fwgdd?.name, "reactive_energy_export");
});

Deno.test("only KPM37/KPM312 tags are marked extended", () => {
  for (const [label, dictionary, , extended] of CASES) {
    for (const [tag, info] of Object.entries(dictionary)) {
      assert.equal(info.extended === true, extended.includes(tag), `${label} ${tag}`);
    }
  }
});

Deno.test("cumulative energy tags are the energy-unit registers of ENERGY_TAGS", () => {
  assert.deepEqual(
    [...CUMULATIVE_ENERGY_TAGS].toSorted(),
    ["zygsz", "fygsz", "zwgsz", "fwgsz", "zszsz", ...TARIFF_REGISTERS].toSorted(),
  );
  assert.equal(CUMULATIVE_ENERGY_TAGS.has("dmpmax"), false);
  assert.equal(CUMULATIVE_ENERGY_TAGS.has("uathd"), false);
});
