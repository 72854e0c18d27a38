/**
 * Hostile uplink messages for fault-injection tests, generated with
 * fast-check: valid samples with mutated ids, times, flags and values (wrong
 * types, hostile strings, huge and non-finite numbers, raw number literals
 * JSON cannot hold), random JSON, broken JSON text and random bytes, on the
 * topics the bridge subscribes to.
 */
import fc from "fast-check";
import { COMMAND_REPLY_TOPICS } from "../../src/protocol/commands.ts";
import { MeterClock } from "../../src/protocol/meter_time.ts";
import { DAY_TAGS, ENERGY_TAGS, INSTANT_TAGS } from "../../src/protocol/tags.ts";
import { READING_TOPICS } from "../../src/protocol/uplink.ts";

/** One message to publish on the internal broker. */
export interface HostileMessage {
  readonly topic: string;
  readonly payload: string | Uint8Array;
  /** Which generator made it. */
  readonly kind: "mutated" | "random_json" | "text" | "bytes";
}

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(Deno.readTextFileSync(new URL(`../fixtures/${name}`, import.meta.url)));

const clock = new MeterClock("UTC");
const NOW = Date.now();
const VALID_IDS = ["33B1225950027", "33B1225950028", "3120000000001", "37A0000000042"];
const VALID_TIMES = [0, 1, 2, 60, 61, 1440].map((m) => clock.meterTimeAt(NOW - m * 60_000));

const DAY_SAMPLE: Record<string, unknown> = {
  id: VALID_IDS[0],
  ...Object.fromEntries(Object.keys(DAY_TAGS).map((tag, i) => [tag, 100 + i])),
  time: clock.meterTimeAt(NOW - 60_000),
  isend: "1",
};

/** Valid payloads per topic, the starting point of mutations. */
const BASES: Readonly<Record<string, Record<string, unknown>>> = {
  MQTT_RT_DATA: fixture("MQTT_RT_DATA.json"),
  MQTT_ENY_NOW: fixture("MQTT_ENY_NOW.json"),
  MQTT_DAY_DATA: DAY_SAMPLE,
  MQTT_COMMOD_SET_REP: { id: VALID_IDS[0], oprid: "0123456789abcdef0123456789abcdef", code: "01" },
  MQTT_METER_TIME_REP: { id: VALID_IDS[0], oprid: "fedcba9876543210fedcba9876543210", code: "02" },
  MQTT_TELEIND: { id: VALID_IDS[0], value: "00000003@00000001", time: VALID_TIMES[0] },
};

/** Reading topics first: they are what the proxy parses. */
export const HOSTILE_TOPICS: readonly string[] = [
  ...Object.keys(READING_TOPICS),
  ...COMMAND_REPLY_TOPICS,
  "MQTT_TELEIND",
];

const DEFAULT_TAGS = ["zyggl", "zygsz", "zygdd"];
const ALL_TAGS = [
  ...new Set([...Object.keys(INSTANT_TAGS), ...Object.keys(ENERGY_TAGS), ...Object.keys(DAY_TAGS)]),
];
const PROTOTYPE_KEYS = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"];

/** Marks a value written into the JSON text as is (e.g. `1e999`, `NaN`, 400 digits). */
const RAW = (text: string) => `@@RAW:${text}@@`;
const RAW_PATTERN = /"@@RAW:([^@"]*)@@"/g;

const topicArb = fc.oneof(
  { arbitrary: fc.constantFrom(...Object.keys(READING_TOPICS)), weight: 8 },
  { arbitrary: fc.constantFrom(...HOSTILE_TOPICS), weight: 2 },
);

const hostileString = fc.oneof(
  {
    arbitrary: fc.constantFrom(
      "../#",
      "+",
      "#",
      "/",
      "\u0000",
      "$SYS/broker",
      "kpm33b/bridge/state",
      "NaN",
      "Infinity",
      "-Infinity",
      "1e999",
      "null",
      "__proto__",
      "\u202e",
      "\ud800",
      "%00",
      "' OR 1=1 --",
      "${jndi:ldap://x/a}",
      "\r\n",
      " ",
    ),
    weight: 6,
  },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 3 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 40 }), weight: 3 },
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ minLength: 1000, maxLength: 5000 }), weight: 1 },
  // Over limits.max_payload_bytes (64 KiB) once in a JSON payload.
  { arbitrary: fc.constant("x".repeat(70_000)), weight: 1 },
);

const wrongType = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constant(null),
  fc.boolean(),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 2 }),
);

const hostileId = fc.oneof(
  { arbitrary: fc.constantFrom(...VALID_IDS), weight: 6 },
  { arbitrary: fc.stringMatching(/^[0-9A-Z]{13}$/), weight: 2 },
  // Almost ids: 12-14 characters, with lower case, wildcards, separators, NUL.
  // deno-lint-ignore no-control-regex
  { arbitrary: fc.stringMatching(/^[0-9A-Za-z/#+$\u0000 .]{12,14}$/), weight: 2 },
  {
    arbitrary: fc.constantFrom(
      "../#",
      "+",
      "#",
      "\u0000",
      "33B1225950027\u0000",
      "33b1225950027",
      "",
      "33B12259500270",
      "33B122595002",
      "33B1225/50027",
      "33B1225+50027",
      "33B1225#50027",
      "$SYS/12259500",
      " 33B122595002",
      "\uff13\uff13B1225950027",
      "33B1225950027\n",
      "33B1225950027/../..",
    ),
    weight: 3,
  },
  { arbitrary: hostileString, weight: 1 },
  { arbitrary: wrongType, weight: 1 },
);

const hostileTime = fc.oneof(
  { arbitrary: fc.constantFrom(...VALID_TIMES), weight: 6 },
  {
    arbitrary: fc.date({
      min: new Date("1990-01-01T00:00:00Z"),
      max: new Date("2099-12-31T23:59:59Z"),
      noInvalidDate: true,
    }).map((d) => clock.meterTimeAt(d.getTime())),
    weight: 2,
  },
  { arbitrary: fc.stringMatching(/^\d{14}$/), weight: 2 },
  {
    arbitrary: fc.constantFrom(
      "20261301000000",
      "20260230120000",
      "20260101246000",
      "99999999999999",
      "00000000000000",
      "2026011216390",
      "202601121639000",
      "2026-01-12T16:39:00Z",
      "",
      " 20260112163900",
    ),
    weight: 2,
  },
  { arbitrary: fc.oneof(wrongType, hostileString), weight: 1 },
);

const hostileNumber = fc.oneof(
  { arbitrary: fc.double(), weight: 3 },
  { arbitrary: fc.integer(), weight: 1 },
  {
    arbitrary: fc.constantFrom(
      "NaN",
      "Infinity",
      "-Infinity",
      "1e999",
      "-1e999",
      "1e308",
      "-0",
      "0x10",
      "1_000",
      " 1",
      "1 ",
      "",
      "+1",
      ".5",
      "5.",
      "1e",
      "--1",
    ),
    weight: 3,
  },
  // Numeric strings far beyond a double: 400 digits, exponents up to 9999.
  { arbitrary: fc.stringMatching(/^-?\d{1,400}(\.\d{1,40})?([eE][-+]?\d{1,4})?$/), weight: 2 },
  // The same as raw JSON number literals, and literals JSON does not have.
  {
    arbitrary: fc.oneof(
      fc.stringMatching(/^-?[1-9]\d{0,400}(\.\d{1,40})?([eE][-+]?\d{1,4})?$/),
      fc.constantFrom("NaN", "Infinity", "-Infinity", "1e999", "-1e999", "0x1F", "01"),
    ).map(RAW),
    weight: 2,
  },
  {
    arbitrary: fc.constantFrom(1e308, -1e308, 5e-324, Number.MAX_SAFE_INTEGER * 1024, 0, -0),
    weight: 1,
  },
  { arbitrary: fc.oneof(wrongType, hostileString), weight: 1 },
);

const tagKey = fc.oneof(
  { arbitrary: fc.constantFrom(...DEFAULT_TAGS), weight: 3 },
  { arbitrary: fc.constantFrom(...ALL_TAGS), weight: 3 },
  { arbitrary: fc.constantFrom(...PROTOTYPE_KEYS, "id", "time", "isend"), weight: 1 },
);

const ABSENT = Symbol("absent");
/** Mostly keep the base value (`undefined`), sometimes remove (`ABSENT`) or replace it. */
function change<T>(arbitrary: fc.Arbitrary<T>, freq: number) {
  return fc.oneof(
    { arbitrary: fc.constant(undefined), weight: freq },
    { arbitrary: fc.constant(ABSENT), weight: 1 },
    { arbitrary: arbitrary, weight: freq },
  );
}

/** A null-prototype object, so `__proto__` becomes an ordinary key. */
function bare(source: Record<string, unknown>): Record<string, unknown> {
  return Object.assign(Object.create(null), source);
}

function encode(payload: Record<string, unknown>): string {
  return JSON.stringify(payload).replace(RAW_PATTERN, "$1");
}

const mutated: fc.Arbitrary<HostileMessage> = fc.record({
  topic: topicArb,
  matchingBase: fc.boolean(),
  base: fc.constantFrom(...Object.values(BASES)),
  id: change(hostileId, 2),
  time: change(hostileTime, 2),
  isend: change(fc.oneof(fc.constantFrom("0", "1", "2", "", "00", "1 "), wrongType), 4),
  set: fc.dictionary(tagKey, hostileNumber, { maxKeys: 4 }),
  remove: fc.subarray(ALL_TAGS, { maxLength: 6 }),
  extra: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), {
    maxKeys: 2,
  }),
}).map((m) => {
  const payload = bare((m.matchingBase ? BASES[m.topic] : undefined) ?? m.base);
  for (const key of ["id", "time", "isend"] as const) {
    const value = m[key];
    if (value === ABSENT) delete payload[key];
    else if (value !== undefined) payload[key] = value;
  }
  for (const tag of m.remove) delete payload[tag];
  for (const [key, value] of Object.entries(m.extra)) payload[key] = value;
  for (const [key, value] of Object.entries(m.set)) {
    Object.defineProperty(payload, key, { value, enumerable: true, writable: true });
  }
  return { topic: m.topic, payload: encode(payload), kind: "mutated" as const };
});

const SAMPLE_TEXTS = Object.values(BASES).map((base) => JSON.stringify(base));

const text: fc.Arbitrary<HostileMessage> = fc.record({
  topic: topicArb,
  payload: fc.oneof(
    fc.constantFrom(
      "",
      "{",
      "}",
      "null",
      "[]",
      "{}",
      "0",
      '"33B1225950027"',
      "[".repeat(50_000),
      "[".repeat(20_000) + "]".repeat(20_000),
      '{"a":'.repeat(10_000) + "1" + "}".repeat(10_000),
      `{"id":"33B1225950027","id":"../#","time":"${VALID_TIMES[0]}","zyggl":1}`,
      `{"id":"../#","id":"33B1225950027","time":"${VALID_TIMES[0]}","zyggl":1,"ua":230}`,
      `{"__proto__":{"id":"33B1225950027"},"time":"${VALID_TIMES[0]}","zyggl":1}`,
      `{"id":"33B1225950027","time":"${VALID_TIMES[0]}","zyggl":1e999,"ua":230}`,
      `{"id":"33B1225950027","time":"${VALID_TIMES[1]}","zyggl":"1e999","ua":230}`,
      `{"id":"33B1225950027","time":"${VALID_TIMES[2]}","zygsz":"${"9".repeat(400)}"}`,
      ...SAMPLE_TEXTS.map((s) => "\ufeff" + s),
      ...SAMPLE_TEXTS.map((s) => s + "garbage"),
      ...SAMPLE_TEXTS.map((s) => `[${s}]`),
      ...SAMPLE_TEXTS.map((s) => s.replaceAll('"', "'")),
    ),
    fc.tuple(fc.constantFrom(...SAMPLE_TEXTS), fc.nat()).map(([s, n]) => s.slice(0, n % s.length)),
    fc.string({ unit: "grapheme", maxLength: 300 }),
  ),
}).map((m) => ({ ...m, kind: "text" as const }));

const randomJson: fc.Arbitrary<HostileMessage> = fc.record({
  topic: topicArb,
  payload: fc.json({ maxDepth: 3 }),
}).map((m) => ({ ...m, kind: "random_json" as const }));

const encoder = new TextEncoder();
const bytes: fc.Arbitrary<HostileMessage> = fc.record({
  topic: topicArb,
  payload: fc.oneof(
    fc.uint8Array({ maxLength: 1024 }),
    // A valid sample with bytes that are not UTF-8 spliced in.
    fc.tuple(
      fc.constantFrom(...SAMPLE_TEXTS),
      fc.nat(),
      fc.uint8Array({ minLength: 1, maxLength: 4, min: 0x80 }),
    ).map(([s, n, junk]) => {
      const raw = encoder.encode(s);
      const at = n % raw.length;
      return new Uint8Array([...raw.subarray(0, at), ...junk, ...raw.subarray(at)]);
    }),
  ),
}).map((m) => ({ ...m, kind: "bytes" as const }));

/** Hostile messages of every kind, mostly mutated valid payloads. */
export const hostileMessage: fc.Arbitrary<HostileMessage> = fc.oneof(
  { arbitrary: mutated, weight: 7 },
  { arbitrary: randomJson, weight: 1 },
  { arbitrary: text, weight: 1 },
  { arbitrary: bytes, weight: 1 },
);
