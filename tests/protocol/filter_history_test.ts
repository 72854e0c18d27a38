import assert from "node:assert/strict";
import {
  type LevelHistory,
  parseHistory,
  registersOf,
  serializeHistory,
} from "../../src/protocol/filter_history.ts";
import { CUMULATIVE_INDICES } from "../../src/protocol/plausibility.ts";
import { LAYOUTS } from "../../src/protocol/reading.ts";
import { digestNumbers } from "../../src/runtime/hash.ts";

const DAY = CUMULATIVE_INDICES.day.length;
const day = (base: number) => Array.from({ length: DAY }, (_, r) => base + r);

function level(overrides: Partial<LevelHistory> = {}): LevelHistory {
  return {
    time: "2026-01-01 00:00:00",
    digest: 12345,
    registers: day(100),
    carried: 0,
    nonZero: true,
    instant: 61_000,
    at: 60_000,
    ...overrides,
  };
}

Deno.test("registersOf takes the cumulative registers of a level's values", () => {
  const values = Array.from({ length: LAYOUTS.minutes.tags.length }, (_, i) => i * 10);
  assert.deepEqual(
    registersOf("minutes", values),
    CUMULATIVE_INDICES.minutes.map((i) => i * 10),
  );
  assert.ok(registersOf("minutes", []).every((v) => Number.isNaN(v)));
});

Deno.test("a history survives serializing and parsing", () => {
  const meter = {
    live: true,
    last: {
      minutes: level({ registers: [...day(5).slice(0, -1), NaN] }),
      day: level({
        time: "2026-01-01",
        carried: 0b110,
        carriedFrom: { instant: 50_500, at: 50_000 },
      }),
    },
  };
  const parsed = parseHistory(serializeHistory(meter));
  assert.deepEqual(parsed, meter);
});

Deno.test("a history stores no arrival when it is not known, and reads it back as unknown", () => {
  const json = serializeHistory({
    live: false,
    last: { day: level({ instant: NaN, at: undefined }) },
  });
  const stored = JSON.parse(json);
  assert.deepEqual(Object.keys(stored.last.day).sort(), ["digest", "nonZero", "registers", "time"]);
  const parsed = parseHistory(json)?.last.day;
  assert.ok(parsed !== undefined);
  assert.ok(Number.isNaN(parsed.instant));
  assert.equal("at" in parsed, false);
});

Deno.test("a history stores the clock drift, not the meter instant", () => {
  const stored = JSON.parse(serializeHistory({ live: true, last: { day: level() } }));
  assert.equal(stored.last.day.at, 60_000);
  assert.equal(stored.last.day.drift, 1_000);
  assert.equal("carried" in stored.last.day, false);
});

Deno.test("a history written by an earlier version (every value) is read", () => {
  const values = Array.from({ length: LAYOUTS.day.tags.length }, (_, i) => i + 1);
  const json = JSON.stringify({
    live: true,
    last: { day: { time: "2026-01-01", values: [null, ...values.slice(1)], nonZero: true } },
  });
  const parsed = parseHistory(json);
  const withNaN = [NaN, ...values.slice(1)];
  assert.deepEqual(parsed, {
    live: true,
    last: {
      day: {
        time: "2026-01-01",
        digest: digestNumbers(withNaN),
        registers: registersOf("day", withNaN),
        carried: 0,
        nonZero: true,
        instant: NaN,
      },
    },
  });
});

Deno.test("levels are read in the order seconds, minutes, day", () => {
  const json = JSON.stringify({
    live: true,
    last: {
      day: { time: "d", digest: 1, registers: [1], nonZero: true },
      seconds: { time: "s", digest: 2, registers: [], nonZero: true },
    },
  });
  assert.deepEqual(Object.keys(parseHistory(json)?.last ?? {}), ["seconds", "day"]);
});

Deno.test("an unreadable history parses as none", () => {
  assert.equal(parseHistory("{not json"), undefined);
  assert.equal(parseHistory("null"), undefined);
  assert.equal(parseHistory(JSON.stringify({ live: "yes", last: {} })), undefined);
  assert.equal(
    parseHistory(JSON.stringify({ live: true, last: { day: { time: "d", digest: -1 } } })),
    undefined,
  );
});
