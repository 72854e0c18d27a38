import assert from "node:assert/strict";
import fc from "fast-check";
import { DAY_TAGS, ENERGY_TAGS, INSTANT_TAGS } from "../../src/protocol/tags.ts";
import {
  CommandReplyPayload,
  DayReadingPayload,
  EnergyReadingPayload,
  InstantReadingPayload,
  IntervalReadReplyPayload,
  IsEnd,
  isReadingTopic,
  isUplinkTopic,
  Measurement,
  READING_TOPICS,
  RelayReplyPayload,
  TeleIndPayload,
  UPLINK_SCHEMAS,
  type UplinkTopic,
} from "../../src/protocol/uplink.ts";

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(Deno.readTextFileSync(new URL(`../fixtures/${name}`, import.meta.url)));
}

const ID = "33B1225950027";
const TIME = "20260112163900";
const OPRID = "0123456789abcdef0123456789abcdef";

/** A minimal valid payload of every uplink topic. */
const VALID: Record<UplinkTopic, Record<string, unknown>> = {
  MQTT_RT_DATA: fixture("MQTT_RT_DATA.json"),
  MQTT_ENY_NOW: fixture("MQTT_ENY_NOW.json"),
  MQTT_DAY_DATA: { id: ID, time: "20260117000000", isend: "1", zygdd: 160.1, fygdd: 0, zyjsz: 8.5 },
  MQTT_TELEIND: { id: ID, value: "00000003@00000001", time: TIME },
  MQTT_COMMOD_SET_REP: { id: ID, oprid: OPRID, code: "01" },
  MQTT_COMMOD_READ_REP: { id: ID, oprid: OPRID, code: "01", Cmd: "0000", value: "60" },
  MQTT_METER_TIME_REP: { id: ID, oprid: OPRID, code: "01" },
  MQTT_TELECTRL_REP: { id: ID, oprid: OPRID, code: "01", do1: "1" },
  MQTT_SYS_SET_REP: { id: ID, oprid: OPRID, code: "02", msg: "param error" },
  MQTT_SYS_REPLY: { id: ID, oprid: OPRID, code: "01" },
  MQTT_RECONFIG_REPLY: { id: ID, oprid: OPRID, code: "01" },
  MQTT_RECALL_REP: { id: ID, oprid: OPRID, code: "01" },
};

const TOPICS = Object.keys(UPLINK_SCHEMAS) as UplinkTopic[];

function accepts(topic: UplinkTopic, payload: unknown): boolean {
  return UPLINK_SCHEMAS[topic].safeParse(payload).success;
}

function firstIssue(topic: UplinkTopic, payload: unknown) {
  const result = UPLINK_SCHEMAS[topic].safeParse(payload);
  assert.equal(result.success, false, `${topic} accepted ${JSON.stringify(payload)}`);
  const issue = result.error?.issues[0];
  assert.ok(issue !== undefined, `${topic} gives no reason to refuse ${JSON.stringify(payload)}`);
  return issue;
}

Deno.test("UPLINK_SCHEMAS covers exactly the uplink topics of the protocol reference", () => {
  assert.deepEqual(TOPICS.toSorted(), [
    "MQTT_COMMOD_READ_REP",
    "MQTT_COMMOD_SET_REP",
    "MQTT_DAY_DATA",
    "MQTT_ENY_NOW",
    "MQTT_METER_TIME_REP",
    "MQTT_RECALL_REP",
    "MQTT_RECONFIG_REPLY",
    "MQTT_RT_DATA",
    "MQTT_SYS_REPLY",
    "MQTT_SYS_SET_REP",
    "MQTT_TELECTRL_REP",
    "MQTT_TELEIND",
  ]);
  for (const topic of TOPICS) assert.equal(isUplinkTopic(topic), true);
  for (
    const topic of ["MQTT_RT_DATA ", "mqtt_rt_data", "", "toString", "__proto__", "constructor"]
  ) {
    assert.equal(isUplinkTopic(topic), false, topic);
  }
});

Deno.test("reading topics: level and dictionary", () => {
  assert.equal(READING_TOPICS.MQTT_RT_DATA.level, "seconds");
  assert.equal(READING_TOPICS.MQTT_RT_DATA.tags, INSTANT_TAGS);
  assert.equal(READING_TOPICS.MQTT_ENY_NOW.level, "minutes");
  assert.equal(READING_TOPICS.MQTT_ENY_NOW.tags, ENERGY_TAGS);
  assert.equal(READING_TOPICS.MQTT_DAY_DATA.level, "day");
  assert.equal(READING_TOPICS.MQTT_DAY_DATA.tags, DAY_TAGS);
  assert.equal(isReadingTopic("MQTT_RT_DATA"), true);
  assert.equal(isReadingTopic("MQTT_TELEIND"), false);
  assert.equal(isReadingTopic("toString"), false);
});

Deno.test("every schema accepts its valid payload and keeps the values", () => {
  for (const topic of TOPICS) {
    const result = UPLINK_SCHEMAS[topic].safeParse(VALID[topic]);
    assert.equal(result.success, true, `${topic}: ${JSON.stringify(result.error?.issues)}`);
    assert.deepEqual(result.data, VALID[topic], topic);
  }
});

Deno.test("fixtures pass the reading schemas, values unchanged", () => {
  const rt = InstantReadingPayload.parse(fixture("MQTT_RT_DATA.json"));
  assert.equal(rt.zyggl, 6.6905);
  assert.equal(rt.uxja, 0);
  assert.equal(rt.isend, "1");
  const rtMissing = InstantReadingPayload.parse(fixture("MQTT_RT_DATA_missing_data.json"));
  assert.equal("zyggl" in rtMissing, false);
  assert.equal(rtMissing.zwggl, -0.493);
  const eny = EnergyReadingPayload.parse(fixture("MQTT_ENY_NOW.json"));
  assert.equal(eny.zygsz, 163.486);
  assert.equal(eny.fwgsz, 11.085);
  const enyMissing = EnergyReadingPayload.parse(fixture("MQTT_ENY_NOW_missing_data.json"));
  assert.equal("zygsz" in enyMissing, false);
  const lines = Deno.readTextFileSync(
    new URL("../fixtures/MQTT_ENY_NOW_capture_short.jsonl", import.meta.url),
  ).split("\n").filter((line) => line.trim() !== "");
  assert.equal(lines.length, 10);
  for (const line of lines) {
    assert.equal(EnergyReadingPayload.safeParse(JSON.parse(line)).success, true, line);
  }
});

Deno.test("every schema tolerates unknown extra tags and keeps them", () => {
  for (const topic of TOPICS) {
    const payload = { ...VALID[topic], vendor_extra: "x", uxja_new: 1.5, nested: { a: [1] } };
    const result = UPLINK_SCHEMAS[topic].safeParse(payload);
    assert.equal(result.success, true, topic);
    assert.equal((result.data as Record<string, unknown>).vendor_extra, "x", topic);
    assert.equal((result.data as Record<string, unknown>).uxja_new, 1.5, topic);
  }
});

Deno.test("every schema rejects a payload without id or with a bad id", () => {
  for (const topic of TOPICS) {
    const { id: _, ...withoutId } = VALID[topic];
    assert.equal(firstIssue(topic, withoutId).path[0], "id", topic);
    for (const bad of ["../#", "+", "#", "33B12259500277", "33b1225950027", 3312259500270, null]) {
      const issue = firstIssue(topic, { ...VALID[topic], id: bad });
      assert.deepEqual(issue.path, ["id"], `${topic} ${JSON.stringify(bad)}`);
    }
  }
});

Deno.test("every schema rejects non-objects", () => {
  for (const topic of TOPICS) {
    for (const value of [null, undefined, 1, "x", [], [VALID[topic]], true]) {
      assert.equal(accepts(topic, value), false, `${topic} ${JSON.stringify(value)}`);
    }
  }
});

const READING_SCHEMAS = [
  ["MQTT_RT_DATA", InstantReadingPayload, INSTANT_TAGS],
  ["MQTT_ENY_NOW", EnergyReadingPayload, ENERGY_TAGS],
  ["MQTT_DAY_DATA", DayReadingPayload, DAY_TAGS],
] as const;

Deno.test("reading schemas: time is required and must be a valid meter time", () => {
  for (const [topic, schema] of READING_SCHEMAS) {
    const { time: _, ...withoutTime } = VALID[topic];
    assert.equal(schema.safeParse(withoutTime).success, false, topic);
    for (const bad of ["20261312000000", "2026011216390", "abc", 20260112163900, null]) {
      const result = schema.safeParse({ ...VALID[topic], time: bad });
      assert.equal(result.success, false, `${topic} ${JSON.stringify(bad)}`);
      assert.deepEqual(result.error!.issues[0]?.path, ["time"]);
    }
  }
  const issue = firstIssue("MQTT_RT_DATA", { ...VALID.MQTT_RT_DATA, time: "20261312000000" });
  assert.equal(issue.message, "time has month 13, not 01-12");
});

Deno.test('reading schemas: isend is optional and must be "0" or "1"', () => {
  for (const [topic, schema] of READING_SCHEMAS) {
    for (const ok of ["0", "1"]) {
      assert.equal(schema.parse({ ...VALID[topic], isend: ok }).isend, ok, topic);
    }
    const { isend: _, ...withoutIsend } = VALID[topic];
    assert.equal(schema.safeParse(withoutIsend).success, true, topic);
    for (const bad of [0, 1, "2", "", "true", true, null, "01"]) {
      const result = schema.safeParse({ ...VALID[topic], isend: bad });
      assert.equal(result.success, false, `${topic} isend ${JSON.stringify(bad)}`);
      assert.equal(result.error!.issues[0]?.message, 'isend must be "0" or "1"');
    }
  }
  assert.equal(IsEnd.safeParse("1").success, true);
  assert.equal(IsEnd.safeParse(1).success, false);
});

Deno.test("reading schemas: numeric strings are coerced to numbers for every tag", () => {
  for (const [topic, schema, tags] of READING_SCHEMAS) {
    for (const tag of Object.keys(tags)) {
      for (
        const [text, value] of [["229.097", 229.097], ["-0.4930", -0.493], ["12", 12], [
          "1e3",
          1000,
        ], ["-2.5E-1", -0.25]] as const
      ) {
        const result = schema.safeParse({ id: ID, time: TIME, [tag]: text });
        assert.equal(result.success, true, `${topic} ${tag}=${text}`);
        assert.equal(
          (result.data as Record<string, unknown>)[tag],
          value,
          `${topic} ${tag}=${text}`,
        );
      }
    }
  }
});

Deno.test("reading schemas: non-numeric strings, objects, booleans, arrays are rejected for every tag", () => {
  const junk = [
    "abc",
    "",
    " 1",
    "1 ",
    "1,5",
    "0x10",
    "NaN",
    "Infinity",
    "+1",
    ".5",
    "1.",
    true,
    false,
    {},
    { v: 1 },
    [],
    [1],
  ];
  for (const [topic, schema, tags] of READING_SCHEMAS) {
    for (const tag of Object.keys(tags)) {
      for (const value of junk) {
        const result = schema.safeParse({ id: ID, time: TIME, [tag]: value });
        assert.equal(result.success, false, `${topic} ${tag}=${JSON.stringify(value)}`);
        assert.deepEqual(result.error!.issues[0]?.path, [tag]);
        assert.equal(result.error!.issues[0]?.message, "expected a number or a numeric string");
      }
    }
  }
});

Deno.test("reading schemas: null is kept as null, not 0 and not dropped", () => {
  for (const [topic, schema, tags] of READING_SCHEMAS) {
    for (const tag of Object.keys(tags)) {
      const result = schema.parse({ id: ID, time: TIME, [tag]: null }) as Record<string, unknown>;
      assert.equal(tag in result, true, `${topic} ${tag}`);
      assert.equal(result[tag], null, `${topic} ${tag}`);
    }
  }
});

Deno.test("Measurement: numbers, numeric strings, null", () => {
  assert.equal(Measurement.parse(6.6905), 6.6905);
  assert.equal(Measurement.parse(0), 0);
  assert.equal(Measurement.parse("0.000"), 0);
  assert.equal(Measurement.parse("-12.5"), -12.5);
  assert.equal(Measurement.parse(null), null);
  assert.equal(Measurement.safeParse(undefined).success, false);
  assert.equal(Measurement.safeParse("abc").success, false);
  assert.equal(Measurement.safeParse(Number.NaN).success, false);
});

Deno.test("Measurement: a numeric string too large for a float is rejected, not turned into Infinity", () => {
  for (const text of ["1e999", "-1e309", "9".repeat(400)]) {
    const result = Measurement.safeParse(text);
    assert.equal(result.success, false, text);
    assert.equal(
      result.error!.issues[0]?.message,
      "expected a finite number (this one overflows a 64-bit float)",
    );
  }
  assert.equal(Measurement.parse("1.7976931348623157e308"), Number.MAX_VALUE);
});

Deno.test("property: the decimal text of any finite number is coerced back to that number", () => {
  fc.assert(
    fc.property(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e15, max: 1e15 }), (n) => {
      const text = String(n); // decimal or exponent notation, e.g. "1.5e-7"
      const fromText = Measurement.safeParse(text);
      assert.equal(fromText.success, true, text);
      assert.ok(fromText.data === n, `${text} became ${fromText.data}`); // 0 and -0 are both "0"
      assert.equal(Measurement.parse(n), n);
    }),
    { numRuns: 300 },
  );
});

Deno.test("TeleInd: value must be DI@DO hexadecimal bit masks", () => {
  for (const value of ["00000003@00000003", "0@0", "1@F", "ffffffff@FFFFFFFF", "3@00000001"]) {
    assert.equal(TeleIndPayload.safeParse({ id: ID, value, time: TIME }).success, true, value);
  }
  for (
    const value of [
      "00000003",
      "00000003@",
      "@00000003",
      "000000003@0",
      "G@0",
      "1@2@3",
      "1 @2",
      "",
      3,
    ]
  ) {
    const result = TeleIndPayload.safeParse({ id: ID, value, time: TIME });
    assert.equal(result.success, false, JSON.stringify(value));
    assert.deepEqual(result.error!.issues[0]?.path, ["value"]);
  }
  assert.equal(
    TeleIndPayload.safeParse({ id: ID, value: "x", time: TIME }).error!.issues[0]?.message,
    'value must be "DI@DO" with hexadecimal bit masks, e.g. 00000003@00000001',
  );
  // time is optional but must be valid when present.
  assert.equal(TeleIndPayload.safeParse({ id: ID, value: "1@1" }).success, true);
  assert.equal(TeleIndPayload.safeParse({ id: ID, value: "1@1", time: "2026" }).success, false);
});

const REPLY_TOPICS = TOPICS.filter((t) => t.endsWith("_REP") || t.endsWith("_REPLY"));

Deno.test("command replies: code 01/02, oprid, optional msg", () => {
  assert.equal(REPLY_TOPICS.length, 8);
  for (const topic of REPLY_TOPICS) {
    for (const code of ["01", "02"]) {
      assert.equal(accepts(topic, { ...VALID[topic], code }), true, `${topic} ${code}`);
    }
    for (const code of ["1", "00", "03", 1, "", null]) {
      const issue = firstIssue(topic, { ...VALID[topic], code });
      assert.deepEqual(issue.path, ["code"], `${topic} ${JSON.stringify(code)}`);
      assert.equal(issue.message, 'code must be "01" or "02"');
    }
    const { code: _c, ...withoutCode } = VALID[topic];
    assert.equal(accepts(topic, withoutCode), false, topic);
    const { oprid: _o, ...withoutOprid } = VALID[topic];
    assert.equal(accepts(topic, withoutOprid), false, topic);
    assert.equal(accepts(topic, { ...VALID[topic], oprid: "" }), false, topic);
    assert.equal(accepts(topic, { ...VALID[topic], oprid: "x".repeat(65) }), false, topic);
    assert.equal(accepts(topic, { ...VALID[topic], oprid: "x".repeat(64) }), true, topic);
    assert.equal(accepts(topic, { ...VALID[topic], oprid: 12 }), false, topic);
    assert.equal(accepts(topic, { ...VALID[topic], msg: "failed" }), true, topic);
    assert.equal(accepts(topic, { ...VALID[topic], msg: 2 }), false, topic);
  }
  const parsed = CommandReplyPayload.parse({ id: ID, oprid: OPRID, code: "02", msg: "bad" });
  assert.deepEqual(parsed, { id: ID, oprid: OPRID, code: "02", msg: "bad" });
});

Deno.test("IntervalReadReply: Cmd 0000/0001 and a decimal value", () => {
  const base = { id: ID, oprid: OPRID, code: "01" };
  assert.deepEqual(IntervalReadReplyPayload.parse({ ...base, Cmd: "0001", value: "1440" }), {
    ...base,
    Cmd: "0001",
    value: "1440",
  });
  assert.equal(
    IntervalReadReplyPayload.safeParse({ ...base, Cmd: "0000", value: "60" }).success,
    true,
  );
  const badCmd = IntervalReadReplyPayload.safeParse({ ...base, Cmd: "0002", value: "60" });
  assert.equal(badCmd.error!.issues[0]?.message, 'Cmd must be "0000" or "0001"');
  for (const value of ["", "6O", "-60", "60.5", 60]) {
    const result = IntervalReadReplyPayload.safeParse({ ...base, Cmd: "0000", value });
    assert.equal(result.success, false, JSON.stringify(value));
    assert.deepEqual(result.error!.issues[0]?.path, ["value"]);
  }
  assert.equal(IntervalReadReplyPayload.safeParse({ ...base, value: "60" }).success, false);
  assert.equal(IntervalReadReplyPayload.safeParse({ ...base, Cmd: "0000" }).success, false);
});

Deno.test("RelayReply: do1/do2 optional, 0 or 1", () => {
  const base = { id: ID, oprid: OPRID, code: "01" };
  assert.equal(RelayReplyPayload.safeParse(base).success, true);
  assert.equal(RelayReplyPayload.parse({ ...base, do1: "0", do2: "1" }).do2, "1");
  for (const bad of ["2", 1, "", null]) {
    assert.equal(RelayReplyPayload.safeParse({ ...base, do1: bad }).success, false, String(bad));
    assert.equal(RelayReplyPayload.safeParse({ ...base, do2: bad }).success, false, String(bad));
  }
  // Unknown outputs (do3 on other models) are tolerated.
  assert.equal(RelayReplyPayload.safeParse({ ...base, do3: "1" }).success, true);
});
