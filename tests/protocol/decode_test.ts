import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeReading, decodeUplink, parseJsonObject } from "../../src/protocol/decode.ts";
import { LAYOUTS, type Reading, valueOf } from "../../src/protocol/reading.ts";
import { quote, type Rejection, type RejectionCode } from "../../src/protocol/rejection.ts";
import { DAY_TAGS, ENERGY_TAGS, INSTANT_TAGS } from "../../src/protocol/tags.ts";
import { READING_TOPICS, type ReadingTopic, UPLINK_SCHEMAS } from "../../src/protocol/uplink.ts";

const MAX = 65536;
const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);
const json = (value: unknown) => bytes(JSON.stringify(value));

const FIXTURES = new URL("../fixtures/", import.meta.url);
const fixtureText = (name: string) => Deno.readTextFileSync(new URL(name, FIXTURES));
const fixtureObject = (name: string) =>
  JSON.parse(fixtureText(name)) as Record<string, string | number>;

const ID = "33B1225950027";
const TIME = "20260112163900";

const REJECTION_CODES: readonly RejectionCode[] = [
  "unknown_topic",
  "oversized",
  "not_utf8",
  "not_json",
  "not_object",
  "invalid_id",
  "invalid_payload",
  "no_measurements",
];

function asReading(result: Reading | Rejection): Reading {
  assert.equal("ok" in result, false, `rejected: ${JSON.stringify(result)}`);
  return result as Reading;
}

function asRejection(result: unknown, code: RejectionCode): Rejection {
  const rejection = result as Rejection;
  assert.equal(rejection.ok, false, `accepted: ${JSON.stringify(result)}`);
  assert.equal(rejection.code, code, rejection.reason);
  assert.equal(typeof rejection.reason, "string");
  assert.ok(rejection.reason.length > 0);
  return rejection;
}

function assertSingleLine(reason: string): void {
  assert.doesNotMatch(
    reason,
    /[\n\r\u2028\u2029]/,
    `reason spans lines: ${JSON.stringify(reason)}`,
  );
  const control = [...reason].find((c) => c.charCodeAt(0) < 0x20 || c === "\x7f");
  assert.equal(control, undefined, `control character in ${JSON.stringify(reason)}`);
}

/** Checks that every tag of a fixture object is in the reading with its value. */
function assertReadingMatches(reading: Reading, source: Record<string, unknown>): void {
  const layout = LAYOUTS[reading.level];
  for (const tag of layout.tags) {
    const expected = Object.hasOwn(source, tag) ? source[tag] : null;
    assert.equal(valueOf(reading, tag), expected, `tag ${tag}`);
  }
}

// ---------------------------------------------------------------------------
// Fixtures

Deno.test("decodeReading: MQTT_RT_DATA fixture", () => {
  const source = fixtureObject("MQTT_RT_DATA.json");
  const reading = asReading(
    decodeReading("MQTT_RT_DATA", bytes(fixtureText("MQTT_RT_DATA.json")), MAX),
  );
  assert.equal(reading.level, "seconds");
  assert.equal(reading.id, ID);
  assert.equal(reading.time, TIME);
  assert.equal(reading.final, true);
  assert.equal(reading.values.length, Object.keys(INSTANT_TAGS).length);
  assert.equal(valueOf(reading, "zyggl"), 6.6905);
  assert.equal(valueOf(reading, "ia"), 9.735);
  assert.equal(valueOf(reading, "zwggl"), -0.493);
  assert.equal(valueOf(reading, "uxja"), 0); // a real 0 stays 0
  assert.equal(valueOf(reading, "ig"), null); // not sent
  assertReadingMatches(reading, source);
});

Deno.test("decodeReading: MQTT_RT_DATA without zyggl gives no value (null), not 0", () => {
  const reading = asReading(
    decodeReading("MQTT_RT_DATA", bytes(fixtureText("MQTT_RT_DATA_missing_data.json")), MAX),
  );
  assert.equal(valueOf(reading, "zyggl"), null);
  assert.ok(Number.isNaN(reading.values[LAYOUTS.seconds.index.get("zyggl")!]));
  assert.equal(valueOf(reading, "ia"), 9.735);
  assertReadingMatches(reading, fixtureObject("MQTT_RT_DATA_missing_data.json"));
});

Deno.test("decodeReading: MQTT_ENY_NOW fixture", () => {
  const reading = asReading(
    decodeReading("MQTT_ENY_NOW", bytes(fixtureText("MQTT_ENY_NOW.json")), MAX),
  );
  assert.equal(reading.level, "minutes");
  assert.equal(reading.id, ID);
  assert.equal(reading.time, "20260117211500");
  assert.equal(reading.final, true);
  assert.equal(reading.values.length, Object.keys(ENERGY_TAGS).length);
  assert.equal(valueOf(reading, "zygsz"), 163.486);
  assert.equal(valueOf(reading, "zszsz"), 164.331);
  assert.equal(valueOf(reading, "fygsz"), 0);
  assert.equal(valueOf(reading, "zy6sz"), null);
  assertReadingMatches(reading, fixtureObject("MQTT_ENY_NOW.json"));
});

Deno.test("decodeReading: MQTT_ENY_NOW without zygsz gives no value (null), not 0", () => {
  const reading = asReading(
    decodeReading("MQTT_ENY_NOW", bytes(fixtureText("MQTT_ENY_NOW_missing_data.json")), MAX),
  );
  assert.equal(valueOf(reading, "zygsz"), null);
  assert.equal(valueOf(reading, "zszsz"), 164.331);
  assertReadingMatches(reading, fixtureObject("MQTT_ENY_NOW_missing_data.json"));
});

Deno.test("decodeReading: every line of the ENY capture", () => {
  const lines = fixtureText("MQTT_ENY_NOW_capture_short.jsonl").split("\n").filter((l) => l.trim());
  assert.equal(lines.length, 10);
  const ids = new Set<string>();
  for (const line of lines) {
    const source = JSON.parse(line);
    const reading = asReading(decodeReading("MQTT_ENY_NOW", bytes(line), MAX));
    assert.equal(reading.id, source.id);
    assert.equal(reading.time, source.time);
    assert.equal(reading.final, true);
    assertReadingMatches(reading, source);
    ids.add(reading.id);
  }
  assert.deepEqual([...ids].sort(), [
    "33B1225950027",
    "33B1225950028",
    "33B1225950029",
    "33B1225950030",
  ]);
});

Deno.test("decodeUplink: every fixture decodes to its payload", () => {
  const files: Array<[string, string]> = [
    ["MQTT_RT_DATA", "MQTT_RT_DATA.json"],
    ["MQTT_RT_DATA", "MQTT_RT_DATA_missing_data.json"],
    ["MQTT_ENY_NOW", "MQTT_ENY_NOW.json"],
    ["MQTT_ENY_NOW", "MQTT_ENY_NOW_missing_data.json"],
  ];
  const lines = fixtureText("MQTT_ENY_NOW_capture_short.jsonl").split("\n").filter((l) => l.trim());
  const cases: Array<[string, string]> = [
    ...files.map(([topic, file]): [string, string] => [topic, fixtureText(file)]),
    ...lines.map((line): [string, string] => ["MQTT_ENY_NOW", line]),
  ];
  for (const [topic, text] of cases) {
    const result = decodeUplink(topic, bytes(text), MAX);
    assert.equal(result.ok, true, JSON.stringify(result));
    if (!result.ok) continue;
    assert.equal(result.topic, topic);
    assert.deepEqual(result.payload, JSON.parse(text));
  }
});

Deno.test("decodeUplink: a topic known to the caller gives that topic's payload type", () => {
  const read = decodeUplink(
    "MQTT_COMMOD_READ_REP",
    json({ id: ID, oprid: "a".repeat(32), code: "01", Cmd: "0001", value: "15" }),
    MAX,
  );
  assert.equal(read.ok, true, JSON.stringify(read));
  if (!read.ok) return;
  const cmd: "0000" | "0001" = read.payload.Cmd;
  const value: string = read.payload.value;
  assert.deepEqual([read.topic, cmd, value], ["MQTT_COMMOD_READ_REP", "0001", "15"]);

  const io = decodeUplink("MQTT_TELEIND", json({ id: ID, value: "00000003@00000001" }), MAX);
  assert.equal(io.ok, true, JSON.stringify(io));
  if (!io.ok) return;
  const mask: string = io.payload.value;
  assert.equal(mask, "00000003@00000001");
});

Deno.test("decodeUplink: checking the topic of a decoded message narrows its payload", () => {
  const messages: Array<[string, unknown]> = [
    ["MQTT_TELECTRL_REP", { id: ID, oprid: "b".repeat(32), code: "01", do1: "1" }],
    ["MQTT_METER_TIME_REP", { id: ID, oprid: "c".repeat(32), code: "02", msg: "bad time" }],
    ["MQTT_RT_DATA", { id: ID, time: TIME, ua: "230.5" }],
  ];
  const seen: unknown[] = [];
  for (const [topic, payload] of messages) {
    const decoded = decodeUplink(topic, json(payload), MAX);
    assert.equal(decoded.ok, true, JSON.stringify(decoded));
    if (!decoded.ok) continue;
    switch (decoded.topic) {
      case "MQTT_TELECTRL_REP": {
        const do1: "0" | "1" | undefined = decoded.payload.do1;
        seen.push(do1);
        break;
      }
      case "MQTT_METER_TIME_REP": {
        const msg: string | undefined = decoded.payload.msg;
        seen.push(msg);
        break;
      }
      case "MQTT_RT_DATA": {
        const time: string = decoded.payload.time;
        seen.push(time, decoded.payload.ua);
        break;
      }
      default:
        seen.push(`unexpected ${decoded.topic}`);
    }
  }
  assert.deepEqual(seen, ["1", "bad time", TIME, 230.5]);
});

Deno.test("decodeUplink: a bad command reply is explained by tag", () => {
  const r = asRejection(
    decodeUplink("MQTT_COMMOD_SET_REP", json({ id: ID, oprid: "x", code: "07" }), MAX),
    "invalid_payload",
  );
  assert.equal(r.reason, 'tag "code": code must be "01" or "02", got "07"');
  const relay = asRejection(
    decodeUplink("MQTT_TELECTRL_REP", json({ id: ID, oprid: "x", code: "01", do1: 1 }), MAX),
    "invalid_payload",
  );
  assert.match(relay.reason, /^tag "do1": /);
});

Deno.test("decodeReading: isend 0 gives a non-final packet", () => {
  const reading = asReading(
    decodeReading("MQTT_RT_DATA", json({ id: ID, time: TIME, isend: "0", ua: 230 }), MAX),
  );
  assert.equal(reading.final, false);
  const noIsend = asReading(
    decodeReading("MQTT_RT_DATA", json({ id: ID, time: TIME, ua: 230 }), MAX),
  );
  assert.equal(noIsend.final, true);
});

Deno.test("decodeReading: numeric strings coerced, null kept as no value", () => {
  const reading = asReading(
    decodeReading(
      "MQTT_RT_DATA",
      json({ id: ID, time: TIME, zyggl: "6.6905", ua: null, ia: 1.5, ib: "-2", f: "5e1" }),
      MAX,
    ),
  );
  assert.equal(valueOf(reading, "zyggl"), 6.6905);
  assert.equal(valueOf(reading, "ua"), null);
  assert.equal(valueOf(reading, "ia"), 1.5);
  assert.equal(valueOf(reading, "ib"), -2);
  assert.equal(valueOf(reading, "f"), 50);
});

Deno.test("decodeReading: MQTT_DAY_DATA", () => {
  const reading = asReading(
    decodeReading("MQTT_DAY_DATA", json({ id: ID, time: "20260117000000", zygdd: 160.25 }), MAX),
  );
  assert.equal(reading.level, "day");
  assert.equal(reading.values.length, Object.keys(DAY_TAGS).length);
  assert.equal(valueOf(reading, "zygdd"), 160.25);
  assert.equal(valueOf(reading, "fygdd"), null);
});

// ---------------------------------------------------------------------------
// parseJsonObject

Deno.test("parseJsonObject: an object is returned as is", () => {
  const result = parseJsonObject(bytes('{"a":1,"b":[true,null]}'), MAX);
  assert.deepEqual(result, { ok: true, value: { a: 1, b: [true, null] } });
});

Deno.test("parseJsonObject: size limit is checked before anything else", () => {
  const big = new Uint8Array(2 * 1024 * 1024).fill(0x20);
  const r = asRejection(parseJsonObject(big, MAX), "oversized");
  assert.equal(r.reason, "payload of 2097152 bytes exceeds limits.max_payload_bytes (65536)");
  // Invalid UTF-8 that is too big is still "oversized".
  asRejection(parseJsonObject(new Uint8Array(MAX + 1).fill(0xff), MAX), "oversized");
  // Exactly at the limit is allowed.
  const text = `{"a":"${"x".repeat(100 - 8)}"}`;
  assert.equal(bytes(text).length, 100);
  assert.equal(parseJsonObject(bytes(text), 100).ok, true);
  asRejection(parseJsonObject(bytes(text), 99), "oversized");
});

Deno.test("parseJsonObject: invalid UTF-8", () => {
  for (
    const raw of [
      [0x7b, 0xff, 0x7d], // 0xff never appears in UTF-8
      [0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x7d], // overlong "/"
      [0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d], // encoded surrogate
      [0x7b, 0x22, 0xe2, 0x82, 0x22, 0x7d], // truncated sequence
      [0x80],
    ]
  ) {
    const r = asRejection(parseJsonObject(new Uint8Array(raw), MAX), "not_utf8");
    assert.equal(r.reason, "payload is not valid UTF-8");
  }
  // Valid multi-byte UTF-8 is fine.
  assert.deepEqual(parseJsonObject(bytes('{"名":"°C"}'), MAX), { ok: true, value: { "名": "°C" } });
});

Deno.test("parseJsonObject: not JSON", () => {
  for (const text of ["abc", "", "{", '{"a":1,}', "{'a':1}", "NaN", '{"a":1}{"b":2}']) {
    const r = asRejection(parseJsonObject(bytes(text), MAX), "not_json");
    assert.match(r.reason, /^payload is not JSON \(/, text);
  }
  const r = asRejection(parseJsonObject(bytes("not json at all"), MAX), "not_json");
  assert.ok(r.reason.endsWith(': "not json at all"'), r.reason);
});

Deno.test("parseJsonObject: JSON that is not an object", () => {
  const cases: Array<[string, string]> = [
    ["[1,2]", "an array"],
    ['[{"id":"33B1225950027"}]', "an array"],
    ['"33B1225950027"', "string"],
    ["42", "number"],
    ["null", "null"],
    ["true", "boolean"],
  ];
  for (const [text, kind] of cases) {
    const r = asRejection(parseJsonObject(bytes(text), MAX), "not_object");
    assert.equal(r.reason, `payload must be a JSON object, got ${kind}`);
  }
});

// ---------------------------------------------------------------------------
// Rejections with codes

Deno.test("decodeReading / decodeUplink: oversized, not UTF-8, not JSON, not an object", () => {
  for (const topic of ["MQTT_RT_DATA", "MQTT_ENY_NOW"]) {
    for (const decode of [decodeReading, decodeUplink]) {
      asRejection(decode(topic, new Uint8Array(2 * 1024 * 1024), MAX), "oversized");
      asRejection(decode(topic, new Uint8Array([0x7b, 0xff, 0x7d]), MAX), "not_utf8");
      asRejection(decode(topic, bytes("hello"), MAX), "not_json");
      asRejection(decode(topic, bytes("[1,2,3]"), MAX), "not_object");
      asRejection(decode(topic, bytes('"text"'), MAX), "not_object");
      asRejection(decode(topic, bytes("12.5"), MAX), "not_object");
      asRejection(decode(topic, bytes("null"), MAX), "not_object");
    }
  }
});

Deno.test("decodeReading / decodeUplink: bad ids are invalid_id", () => {
  for (const id of ["../#", "+", "#", "33B12259500277", "33b1225950027", ""]) {
    for (const decode of [decodeReading, decodeUplink]) {
      const r = asRejection(
        decode("MQTT_RT_DATA", json({ id, time: TIME, zyggl: 1 }), MAX),
        "invalid_id",
      );
      assert.equal(
        r.reason,
        `tag "id": meter id must be exactly 13 characters 0-9 or A-Z, got ${JSON.stringify(id)}`,
      );
    }
  }
  for (const id of [3312259500270, null, ["33B1225950027"]]) {
    const r = asRejection(
      decodeReading("MQTT_RT_DATA", json({ id, time: TIME, zyggl: 1 }), MAX),
      "invalid_id",
    );
    assert.ok(r.reason.startsWith('tag "id": '), r.reason);
    assert.ok(r.reason.endsWith(`, got ${JSON.stringify(id)}`), r.reason);
  }
  const missing = asRejection(
    decodeReading("MQTT_RT_DATA", json({ time: TIME, zyggl: 1 }), MAX),
    "invalid_id",
  );
  assert.match(missing.reason, /^tag "id": .*, got undefined$/);
});

Deno.test('decodeReading: "abc" where a number belongs is invalid_payload', () => {
  const r = asRejection(
    decodeReading("MQTT_RT_DATA", json({ id: ID, time: TIME, zyggl: "abc" }), MAX),
    "invalid_payload",
  );
  assert.equal(r.reason, 'tag "zyggl": expected a number or a numeric string, got "abc"');
  const two = asRejection(
    decodeReading("MQTT_ENY_NOW", json({ id: ID, time: TIME, zygsz: true, fygsz: {} }), MAX),
    "invalid_payload",
  );
  assert.equal(
    two.reason,
    'tag "zygsz": expected a number or a numeric string, got true (and 1 more problems)',
  );
});

Deno.test("decodeReading: bad time and isend are invalid_payload", () => {
  const time = asRejection(
    decodeReading("MQTT_RT_DATA", json({ id: ID, time: "20261312000000", ua: 1 }), MAX),
    "invalid_payload",
  );
  assert.equal(time.reason, 'tag "time": time has month 13, not 01-12, got "20261312000000"');
  asRejection(decodeReading("MQTT_RT_DATA", json({ id: ID, ua: 1 }), MAX), "invalid_payload");
  asRejection(
    decodeReading("MQTT_RT_DATA", json({ id: ID, time: 20260112163900, ua: 1 }), MAX),
    "invalid_payload",
  );
  const isend = asRejection(
    decodeReading("MQTT_RT_DATA", json({ id: ID, time: TIME, isend: 1, ua: 1 }), MAX),
    "invalid_payload",
  );
  assert.equal(isend.reason, 'tag "isend": isend must be "0" or "1", got 1');
});

Deno.test('a payload containing "ok": false is a reading, not a rejection', () => {
  const payload = { id: ID, time: TIME, ok: false, code: "not_json", reason: "x", zyggl: 2.5 };
  const reading = asReading(decodeReading("MQTT_RT_DATA", json(payload), MAX));
  assert.equal("ok" in reading, false);
  assert.equal("code" in reading, false);
  assert.equal(valueOf(reading, "zyggl"), 2.5);
  const withString = asReading(
    decodeReading("MQTT_RT_DATA", json({ ...payload, zyggl: "2.5" }), MAX),
  );
  assert.equal("ok" in withString, false);
  assert.equal(valueOf(withString, "zyggl"), 2.5);
  const decoded = decodeUplink("MQTT_RT_DATA", json(payload), MAX);
  assert.equal(decoded.ok, true);
  assert.equal(decoded.ok && decoded.payload.ok, false); // kept as an extra tag
});

Deno.test("decodeReading: no known measurement tags is no_measurements", () => {
  const cases: Array<[ReadingTopic, Record<string, unknown>]> = [
    ["MQTT_RT_DATA", { id: ID, time: TIME, isend: "1" }],
    ["MQTT_RT_DATA", { id: ID, time: TIME, unknown: 5, UA: 230 }],
    ["MQTT_RT_DATA", fixtureObject("MQTT_ENY_NOW.json")], // energy tags on the instant topic
    ["MQTT_ENY_NOW", fixtureObject("MQTT_RT_DATA.json")],
    ["MQTT_DAY_DATA", { id: ID, time: TIME, zygsz: 5 }],
    ["MQTT_RT_DATA", { id: ID, time: TIME, extra: "7" }],
  ];
  for (const [topic, payload] of cases) {
    const r = asRejection(decodeReading(topic, json(payload), MAX), "no_measurements");
    assert.equal(r.reason, `${topic} payload carries none of the known measurement tags`);
  }
  // A tag sent as null is a known tag without a value: still a reading.
  const nullOnly = asReading(
    decodeReading("MQTT_RT_DATA", json({ id: ID, time: TIME, zyggl: null }), MAX),
  );
  assert.ok(nullOnly.values.every(Number.isNaN));
});

Deno.test("unknown topics are unknown_topic", () => {
  const r = asRejection(decodeUplink("MQTT_FOO", json({ id: ID }), MAX), "unknown_topic");
  assert.equal(r.reason, 'unknown topic "MQTT_FOO"');
  asRejection(decodeUplink("toString", json({ id: ID }), MAX), "unknown_topic");
  asRejection(decodeUplink("__proto__", json({ id: ID }), MAX), "unknown_topic");
  const notReading = asRejection(
    decodeReading("MQTT_TELEIND", json({ id: ID, value: "1@1" }), MAX),
    "unknown_topic",
  );
  assert.equal(notReading.reason, 'not a reading topic: "MQTT_TELEIND"');
  asRejection(decodeReading("constructor", json({ id: ID }), MAX), "unknown_topic");
  // The topic is checked before the payload.
  asRejection(decodeUplink("nope", new Uint8Array(2 * 1024 * 1024), MAX), "unknown_topic");
});

// ---------------------------------------------------------------------------
// Reasons are safe to log

Deno.test("quote: JSON-escapes and truncates untrusted values", () => {
  assert.equal(quote("abc"), '"abc"');
  assert.equal(quote("a\nb\u001b[31m"), '"a\\nb\\u001b[31m"');
  assert.equal(quote(12), "12");
  assert.equal(quote(null), "null");
  assert.equal(quote(undefined), "undefined");
  assert.equal(quote({ a: 1 }), '{"a":1}');
  const long = "x".repeat(100);
  assert.equal(quote(long), `"${"x".repeat(39)}…(102 chars)`);
  assert.equal(quote("y".repeat(38)), `"${"y".repeat(38)}"`); // 40 chars: not truncated
  assert.equal(quote("y".repeat(39)), `"${"y".repeat(39)}…(41 chars)`);
  assert.equal(quote(10n), "10"); // JSON.stringify throws on BigInt
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  assert.equal(quote(circular), "[object Object]");
});

Deno.test("hostile text in reasons is quoted, single-line and truncated", () => {
  const hostile = "33B\n2026-01-01 INFO forged log line\r\u001b[2J" + "A".repeat(5000);
  const cases: Array<[RejectionCode, Reading | Rejection | ReturnType<typeof decodeUplink>]> = [
    ["unknown_topic", decodeUplink(hostile, json({}), MAX)],
    ["unknown_topic", decodeReading(hostile, json({}), MAX)],
    ["invalid_id", decodeReading("MQTT_RT_DATA", json({ id: hostile, time: TIME, ua: 1 }), MAX)],
    [
      "invalid_payload",
      decodeReading("MQTT_RT_DATA", json({ id: ID, time: TIME, ua: hostile }), MAX),
    ],
    ["invalid_payload", decodeReading("MQTT_RT_DATA", json({ id: ID, time: hostile, ua: 1 }), MAX)],
    ["invalid_payload", decodeUplink("MQTT_TELEIND", json({ id: ID, value: hostile }), MAX)],
    [
      "invalid_payload",
      decodeUplink("MQTT_COMMOD_SET_REP", json({ id: ID, oprid: "x", code: hostile }), MAX),
    ],
    ["not_object", decodeReading("MQTT_RT_DATA", json([hostile]), MAX)],
    ["not_object", decodeReading("MQTT_RT_DATA", json(hostile), MAX)],
  ];
  for (const [code, result] of cases) {
    const r = asRejection(result, code);
    assertSingleLine(r.reason);
    assert.ok(r.reason.length < 200, `reason of ${r.reason.length} chars`);
    assert.equal(r.reason.includes("A".repeat(50)), false, r.reason); // truncated
  }
  const [, invalidId] = cases.find(([code]) => code === "invalid_id") ?? [];
  assert.ok(invalidId !== undefined);
  const r = asRejection(invalidId, "invalid_id");
  assert.ok(r.reason.includes(`"33B\\n2026-01-01 INFO forged`), r.reason);
  assert.ok(r.reason.includes("…(5"), r.reason);
});

Deno.test("not_json reasons quote and truncate the payload text", () => {
  const text = "garbage " + "B".repeat(3000);
  const r = asRejection(decodeReading("MQTT_RT_DATA", bytes(text), MAX), "not_json");
  assertSingleLine(r.reason);
  assert.ok(r.reason.length < 300, `reason of ${r.reason.length} chars`);
  assert.ok(r.reason.endsWith(`"garbage ${"B".repeat(31)}…(3010 chars)`), r.reason);
});

// ---------------------------------------------------------------------------
// Property tests

const READING_TOPIC_NAMES = Object.keys(READING_TOPICS) as ReadingTopic[];
const ALL_TAGS = [
  ...new Set([...Object.keys(INSTANT_TAGS), ...Object.keys(ENERGY_TAGS), ...Object.keys(DAY_TAGS)]),
];
const TOPIC_NAMES = [...Object.keys(UPLINK_SCHEMAS), "MQTT_FOO", "", "#", "__proto__"];

const anyTopic = fc.constantFrom(...TOPIC_NAMES);
const goodId = fc.constantFrom(ID, "3121225950001", "37A0000000009");
const anyId = fc.oneof(
  goodId,
  fc.constantFrom("../#", "+", "33B12259500277", "33b1225950027"),
  fc.jsonValue(),
);
const goodTime = fc.constantFrom(TIME, "20050118211500", "20240229000000");
const anyTime = fc.oneof(
  goodTime,
  fc.constantFrom("20261312000000", "2026", "20260230000000"),
  fc.jsonValue(),
);
const anyIsend = fc.constantFrom("0", "1", 0, 1, "2", null, true);

/** Objects built from id, time, isend and known tags with arbitrary JSON values. */
const mixedObject = fc.record(
  {
    id: anyId,
    time: anyTime,
    isend: anyIsend,
    tags: fc.dictionary(fc.constantFrom(...ALL_TAGS), fc.jsonValue({ maxDepth: 2 }), {
      maxKeys: 12,
    }),
    extra: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), {
      maxKeys: 3,
    }),
  },
  { requiredKeys: ["tags"] },
).map(({ tags, extra, ...head }) => ({ ...extra, ...head, ...tags }));

function checkResult(result: unknown): void {
  assert.equal(typeof result, "object");
  assert.notEqual(result, null);
  const r = result as Record<string, unknown>;
  if (r.ok === false) {
    assert.ok(REJECTION_CODES.includes(r.code as RejectionCode), String(r.code));
    assert.equal(typeof r.reason, "string");
    assert.ok((r.reason as string).length > 0);
  } else if (r.ok === true) {
    assert.equal(typeof r.topic, "string");
  } else {
    assert.equal(typeof r.id, "string");
    assert.ok(Array.isArray(r.values));
  }
}

function decodeAll(topic: string, input: Uint8Array, maxBytes: number): void {
  checkResult(decodeUplink(topic, input, maxBytes));
  checkResult(decodeReading(topic, input, maxBytes));
}

Deno.test("property: arbitrary bytes never make the decoders throw", () => {
  fc.assert(
    fc.property(
      anyTopic,
      fc.uint8Array({ maxLength: 300 }),
      fc.integer({ min: 0, max: 400 }),
      decodeAll,
    ),
    { numRuns: 500 },
  );
});

Deno.test("property: arbitrary JSON values never make the decoders throw", () => {
  fc.assert(
    fc.property(anyTopic, fc.jsonValue(), (topic, value) => decodeAll(topic, json(value), MAX)),
    { numRuns: 500 },
  );
});

Deno.test("property: arbitrary objects of known tags never make the decoders throw", () => {
  fc.assert(
    fc.property(anyTopic, mixedObject, (topic, value) => decodeAll(topic, json(value), MAX)),
    { numRuns: 500 },
  );
});

// Values for the fast path / schema agreement: mostly plain numbers (the fast
// path), sometimes numeric strings or null, sometimes junk.
const numberValue = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 });
const numericString = fc.oneof(
  numberValue.map(String),
  fc.constantFrom("0", "0.000", "-0.4930", "1e3", "1E-2", "007", "1e999"),
);
const junk = fc.constantFrom<unknown>("abc", "", " 1", "1,5", "0x1", true, false, {}, [], [1], {
  v: 1,
});
const tagValue = fc.oneof(
  { arbitrary: numberValue, weight: 10 },
  { arbitrary: fc.constant(null), weight: 2 },
  { arbitrary: numericString, weight: 3 },
  { arbitrary: junk, weight: 1 },
);

const agreementCase = fc.record({
  topic: fc.constantFrom(...READING_TOPIC_NAMES),
  id: fc.oneof({ arbitrary: goodId, weight: 8 }, { arbitrary: anyId, weight: 1 }),
  time: fc.oneof({ arbitrary: goodTime, weight: 8 }, { arbitrary: anyTime, weight: 1 }),
  isend: fc.option(
    fc.oneof({ arbitrary: fc.constantFrom("0", "1"), weight: 8 }, {
      arbitrary: anyIsend,
      weight: 1,
    }),
    {
      nil: undefined,
    },
  ),
  tags: fc.dictionary(fc.constantFrom(...ALL_TAGS), tagValue, { maxKeys: 10 }),
  extra: fc.dictionary(
    fc.constantFrom("foo", "UA", "zygsz_x", "ok", "code"),
    fc.jsonValue({ maxDepth: 1 }),
    {
      maxKeys: 2,
    },
  ),
});

Deno.test("property: decodeReading agrees with the topic's schema", () => {
  fc.assert(
    fc.property(agreementCase, ({ topic, id, time, isend, tags, extra }) => {
      const object: Record<string, unknown> = { ...extra, id, time, ...tags };
      if (isend !== undefined) object.isend = isend;
      const text = JSON.stringify(object);
      const parsed = JSON.parse(text); // what the decoder sees (e.g. -0 becomes 0)
      const result = decodeReading(topic, bytes(text), MAX);
      const schema = UPLINK_SCHEMAS[topic].safeParse(parsed);
      const layout = LAYOUTS[READING_TOPICS[topic].level];
      if (!schema.success) {
        const r = result as Rejection;
        assert.equal(r.ok, false, `schema rejects ${text} but decodeReading accepted it`);
        const expected = schema.error.issues[0]?.path[0] === "id"
          ? "invalid_id"
          : "invalid_payload";
        assert.equal(r.code, expected);
        return;
      }
      const present = layout.tags.filter((tag) => Object.hasOwn(parsed, tag));
      if (present.length === 0) {
        asRejection(result, "no_measurements");
        return;
      }
      const reading = asReading(result);
      const data = schema.data as Record<string, unknown>;
      assert.equal(reading.level, layout.level);
      assert.equal(reading.id, data.id);
      assert.equal(reading.time, data.time);
      assert.equal(reading.final, data.isend !== "0");
      assert.equal(reading.values.length, layout.tags.length);
      layout.tags.forEach((tag, i) => {
        const value = data[tag];
        const expected = value === undefined || value === null ? NaN : value;
        assert.equal(typeof expected, "number", `${tag}: schema gave ${JSON.stringify(value)}`);
        assert.ok(
          Object.is(reading.values[i], expected),
          `${tag}: ${reading.values[i]} != ${String(expected)}`,
        );
      });
    }),
    { numRuns: 500 },
  );
});

Deno.test("decodeReading: a JSON number too large for a float (1e999) is rejected, not read as Infinity", () => {
  for (const literal of ["1e999", "-1e999"]) {
    const text = `{"id":"33B1225950027","time":"20260112163900","zyggl":${literal},"ua":230.1}`;
    const decoded = decodeReading("MQTT_RT_DATA", new TextEncoder().encode(text), 65536);
    assert.ok("ok" in decoded, `${literal} was accepted`);
    assert.equal(decoded.code, "invalid_payload");
    assert.match(decoded.reason, /tag "zyggl": expected a finite number/);
  }
});
