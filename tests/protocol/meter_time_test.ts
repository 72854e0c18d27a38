import assert from "node:assert/strict";
import fc from "fast-check";
import {
  isTimeZone,
  MeterClock,
  MeterTime,
  parseMeterTime,
} from "../../src/protocol/meter_time.ts";

// ---------------------------------------------------------------------------
// Independent reference: offsets straight from Intl's "longOffset" zone name,
// wall time computed from that offset with plain Date arithmetic.

const offsetFormats = new Map<string, Intl.DateTimeFormat>();

function referenceOffsetMinutes(zone: string, epochMs: number): number {
  let format = offsetFormats.get(zone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "longOffset" });
    offsetFormats.set(zone, format);
  }
  const name = format.formatToParts(new Date(epochMs)).find((p) => p.type === "timeZoneName")!
    .value;
  if (name === "GMT") return 0;
  const match = /^GMT([+-])(\d{2}):(\d{2})$/.exec(name);
  assert.ok(match, `unexpected offset name ${name}`);
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  return match[1] === "-" ? -minutes : minutes;
}

function referenceMeterTime(zone: string, epochMs: number): string {
  const shifted = new Date(epochMs + referenceOffsetMinutes(zone, epochMs) * 60_000);
  return shifted.toISOString().slice(0, 19).replace(/[-T:]/g, "");
}

function referenceOffsetText(minutes: number): string {
  if (minutes === 0) return "Z";
  const abs = Math.abs(minutes);
  const hh = String(Math.floor(abs / 60)).padStart(2, "0");
  const mm = String(abs % 60).padStart(2, "0");
  return `${minutes < 0 ? "-" : "+"}${hh}:${mm}`;
}

/** Offset transitions of a zone between two years, to the second. */
function transitions(zone: string, fromYear: number, toYear: number): number[] {
  const found: number[] = [];
  const end = Date.UTC(toYear + 1, 0, 1);
  let t = Date.UTC(fromYear, 0, 1);
  let offset = referenceOffsetMinutes(zone, t);
  const day = 86_400_000;
  for (; t < end; t += day) {
    const next = referenceOffsetMinutes(zone, t + day);
    if (next === offset) continue;
    let lo = t; // offset at lo is `offset`
    let hi = t + day; // offset at hi is `next`
    while (hi - lo > 1000) {
      const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
      if (referenceOffsetMinutes(zone, mid) === offset) lo = mid;
      else hi = mid;
    }
    found.push(hi);
    offset = next;
  }
  return found;
}

const FROM = Date.UTC(2000, 0, 1) / 1000;
const TO = Date.UTC(2038, 0, 1) / 1000 - 1;

const ROUND_TRIP_ZONES = [
  "UTC",
  "Europe/Vienna",
  "Europe/London",
  "America/New_York",
  "America/St_Johns",
  "America/Sao_Paulo",
  "Australia/Lord_Howe",
  "Asia/Kolkata",
];

/**
 * The invariants of one instant `t` (whole seconds) in a zone: the meter time
 * maps back to the earliest instant with that wall time, and the ISO
 * timestamp denotes that instant.
 */
function checkInstant(clock: MeterClock, t: number): void {
  const zone = clock.timeZone;
  const s = clock.meterTimeAt(t);
  assert.equal(s, referenceMeterTime(zone, t), `meterTimeAt(${new Date(t).toISOString()})`);
  const back = clock.instantOf(s);
  assert.equal(clock.meterTimeAt(back), s, `wall time ${s} does not map back to itself`);
  assert.ok(back <= t, `instantOf(${s}) is later than the instant it came from`);
  if (back !== t) {
    // Only in a repeated hour: the earlier occurrence is taken.
    assert.ok(t - back <= 2 * 3_600_000, `instantOf(${s}) is ${t - back} ms off`);
  }
  for (const minutes of [15, 30, 60, 90, 120]) {
    assert.notEqual(
      referenceMeterTime(zone, back - minutes * 60_000),
      s,
      `an earlier instant (${minutes} min) also has wall time ${s}: not the earlier offset`,
    );
  }
  const iso = clock.isoTimestamp(s);
  assert.match(iso, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$/);
  assert.equal(Date.parse(iso), back, `${iso} is not instantOf(${s})`);
  assert.ok(iso.endsWith(referenceOffsetText(referenceOffsetMinutes(zone, back))), iso);
}

// ---------------------------------------------------------------------------
// parseMeterTime

Deno.test("parseMeterTime: a valid time gives its wall-clock fields", () => {
  assert.deepEqual(parseMeterTime("20260112163900"), {
    year: 2026,
    month: 1,
    day: 12,
    hour: 16,
    minute: 39,
    second: 0,
  });
  assert.deepEqual(parseMeterTime("20051231235959"), {
    year: 2005,
    month: 12,
    day: 31,
    hour: 23,
    minute: 59,
    second: 59,
  });
  assert.deepEqual(parseMeterTime("20260101000000"), {
    year: 2026,
    month: 1,
    day: 1,
    hour: 0,
    minute: 0,
    second: 0,
  });
});

Deno.test("parseMeterTime: month out of range", () => {
  assert.equal(parseMeterTime("20261312000000"), "time has month 13, not 01-12");
  assert.equal(parseMeterTime("20260012000000"), "time has month 0, not 01-12");
});

Deno.test("parseMeterTime: days that the month does not have", () => {
  for (const text of ["20260230120000", "20260431120000", "20260100120000", "20261232000000"]) {
    const result = parseMeterTime(text);
    assert.equal(typeof result, "string", text);
    assert.match(result as string, /^time has day \d+, not a day of that month$/, text);
  }
  assert.equal(typeof parseMeterTime("20260131120000"), "object");
  assert.equal(typeof parseMeterTime("20260430120000"), "object");
});

Deno.test("parseMeterTime: 29 February only in leap years", () => {
  assert.equal(typeof parseMeterTime("20240229120000"), "object"); // leap
  assert.equal(typeof parseMeterTime("20000229120000"), "object"); // divisible by 400
  assert.equal(parseMeterTime("20260229120000"), "time has day 29, not a day of that month");
  assert.equal(parseMeterTime("21000229120000"), "time has day 29, not a day of that month");
  assert.equal(parseMeterTime("20240230120000"), "time has day 30, not a day of that month");
});

Deno.test("parseMeterTime: hour, minute, second out of range", () => {
  const reason = "time has an hour, minute or second out of range";
  assert.equal(parseMeterTime("20260112240000"), reason);
  assert.equal(parseMeterTime("20260112236000"), reason);
  assert.equal(parseMeterTime("20260112235960"), reason);
  assert.equal(typeof parseMeterTime("20260112235959"), "object");
});

Deno.test("parseMeterTime: wrong length or characters", () => {
  const reason = "time must be 14 digits yyyyMMddHHmmss";
  for (
    const text of [
      "2026011216390", // 13 digits
      "202601121639000", // 15 digits
      "",
      "2026011216390a",
      "abcdefghijklmn",
      "2026-01-12T16:",
      " 20260112163900",
      "20260112163900\n",
      "２０２６０１１２１６３９００", // full-width digits
      "+2026011216390",
    ]
  ) {
    assert.equal(parseMeterTime(text), reason, JSON.stringify(text));
  }
});

Deno.test("MeterTime schema accepts valid times and reports the reason for invalid ones", () => {
  assert.equal(MeterTime.parse("20260112163900"), "20260112163900");
  const bad = MeterTime.safeParse("20261312000000");
  assert.equal(bad.success, false);
  assert.equal(bad.error!.issues[0]?.message, "time has month 13, not 01-12");
  assert.equal(MeterTime.safeParse(20260112163900).success, false);
  assert.equal(MeterTime.safeParse(null).success, false);
});

Deno.test("property: parseMeterTime accepts exactly the real calendar times", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1000, max: 9999 }),
      fc.integer({ min: 0, max: 99 }),
      fc.integer({ min: 0, max: 99 }),
      fc.integer({ min: 0, max: 99 }),
      fc.integer({ min: 0, max: 99 }),
      fc.integer({ min: 0, max: 99 }),
      (year, month, day, hour, minute, second) => {
        const p = (n: number) => String(n).padStart(2, "0");
        const text = `${year}${p(month)}${p(day)}${p(hour)}${p(minute)}${p(second)}`;
        const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
        const valid = month >= 1 && month <= 12 && hour <= 23 && minute <= 59 && second <= 59 &&
          day >= 1 && date.getUTCDate() === day && date.getUTCMonth() === month - 1;
        const result = parseMeterTime(text);
        if (valid) assert.deepEqual(result, { year, month, day, hour, minute, second });
        else assert.equal(typeof result, "string");
      },
    ),
    { numRuns: 500 },
  );
});

// ---------------------------------------------------------------------------
// isTimeZone

Deno.test("isTimeZone knows IANA names and rejects others", () => {
  for (
    const zone of [
      "UTC",
      "Europe/Vienna",
      "America/New_York",
      "Asia/Kolkata",
      "Australia/Lord_Howe",
    ]
  ) {
    assert.equal(isTimeZone(zone), true, zone);
  }
  for (
    const zone of ["", "Mars/Olympus", "Europe/Vienna ", "Europe/Wien", "CEST+1", "../etc/passwd"]
  ) {
    assert.equal(isTimeZone(zone), false, zone);
  }
});

// ---------------------------------------------------------------------------
// MeterClock.isoTimestamp

Deno.test("isoTimestamp: Europe/Vienna winter time is +01:00", () => {
  const clock = new MeterClock("Europe/Vienna");
  assert.equal(clock.isoTimestamp("20260112163900"), "2026-01-12T16:39:00+01:00");
  assert.equal(clock.instantOf("20260112163900"), Date.UTC(2026, 0, 12, 15, 39, 0));
});

Deno.test("isoTimestamp: Europe/Vienna summer time is +02:00", () => {
  const clock = new MeterClock("Europe/Vienna");
  assert.equal(clock.isoTimestamp("20260712120000"), "2026-07-12T12:00:00+02:00");
  assert.equal(clock.instantOf("20260712120000"), Date.UTC(2026, 6, 12, 10, 0, 0));
});

Deno.test("isoTimestamp: UTC gives Z", () => {
  const clock = new MeterClock("UTC");
  assert.equal(clock.isoTimestamp("20260112163900"), "2026-01-12T16:39:00Z");
  assert.equal(clock.isoTimestamp("20050118211500"), "2005-01-18T21:15:00Z");
  assert.equal(clock.instantOf("20260112163900"), Date.UTC(2026, 0, 12, 16, 39, 0));
});

Deno.test("isoTimestamp: zones with non-whole-hour offsets", () => {
  assert.equal(
    new MeterClock("Asia/Kolkata").isoTimestamp("20260112163900"),
    "2026-01-12T16:39:00+05:30",
  );
  assert.equal(
    new MeterClock("Asia/Kathmandu").isoTimestamp("20260112163900"),
    "2026-01-12T16:39:00+05:45",
  );
  assert.equal(
    new MeterClock("America/St_Johns").isoTimestamp("20260112163900"),
    "2026-01-12T16:39:00-03:30",
  );
  assert.equal(
    new MeterClock("Asia/Kolkata").instantOf("20260112163900"),
    Date.UTC(2026, 0, 12, 11, 9, 0),
  );
});

Deno.test("isoTimestamp: negative offsets", () => {
  const clock = new MeterClock("America/New_York");
  assert.equal(clock.isoTimestamp("20260112163900"), "2026-01-12T16:39:00-05:00");
  assert.equal(clock.isoTimestamp("20260712163900"), "2026-07-12T16:39:00-04:00");
});

Deno.test("Europe/Vienna repeated hour (2026-10-25 02:30) takes the earlier, summer offset", () => {
  const clock = new MeterClock("Europe/Vienna");
  assert.equal(clock.isoTimestamp("20261025023000"), "2026-10-25T02:30:00+02:00");
  assert.equal(clock.instantOf("20261025023000"), Date.UTC(2026, 9, 25, 0, 30, 0));
  assert.equal(clock.isoTimestamp("20261025015959"), "2026-10-25T01:59:59+02:00");
  assert.equal(clock.isoTimestamp("20261025025959"), "2026-10-25T02:59:59+02:00");
  assert.equal(clock.isoTimestamp("20261025030000"), "2026-10-25T03:00:00+01:00");
  // Both occurrences of 02:30 format as the same meter time.
  assert.equal(clock.meterTimeAt(Date.UTC(2026, 9, 25, 0, 30)), "20261025023000");
  assert.equal(clock.meterTimeAt(Date.UTC(2026, 9, 25, 1, 30)), "20261025023000");
});

Deno.test("Europe/Vienna skipped hour (2026-03-29 02:30) takes the offset before the change", () => {
  const clock = new MeterClock("Europe/Vienna");
  assert.equal(clock.isoTimestamp("20260329023000"), "2026-03-29T02:30:00+01:00");
  assert.equal(clock.instantOf("20260329023000"), Date.UTC(2026, 2, 29, 1, 30, 0));
  assert.equal(clock.isoTimestamp("20260329015959"), "2026-03-29T01:59:59+01:00");
  assert.equal(clock.isoTimestamp("20260329030000"), "2026-03-29T03:00:00+02:00");
  // The skipped wall time is an instant that reads 03:30 summer time.
  assert.equal(clock.meterTimeAt(clock.instantOf("20260329023000")), "20260329033000");
});

Deno.test("America/New_York and Australia/Lord_Howe DST edges", () => {
  const ny = new MeterClock("America/New_York");
  assert.equal(ny.isoTimestamp("20261101013000"), "2026-11-01T01:30:00-04:00"); // repeated
  assert.equal(ny.isoTimestamp("20261101020000"), "2026-11-01T02:00:00-05:00");
  assert.equal(ny.isoTimestamp("20260308023000"), "2026-03-08T02:30:00-05:00"); // skipped
  const lh = new MeterClock("Australia/Lord_Howe"); // 30-minute DST
  assert.equal(lh.isoTimestamp("20260105120000"), "2026-01-05T12:00:00+11:00");
  assert.equal(lh.isoTimestamp("20260705120000"), "2026-07-05T12:00:00+10:30");
  assert.equal(lh.isoTimestamp("20260405014500"), "2026-04-05T01:45:00+11:00"); // repeated
  assert.equal(lh.isoTimestamp("20260405020000"), "2026-04-05T02:00:00+10:30");
  assert.equal(lh.isoTimestamp("20261004021500"), "2026-10-04T02:15:00+10:30"); // skipped
});

Deno.test("isoTimestamp and instantOf reject invalid meter times with RangeError", () => {
  const clock = new MeterClock("Europe/Vienna");
  for (const text of ["20261312000000", "2026011216390", "abc", "20260230000000"]) {
    assert.throws(() => clock.isoTimestamp(text), RangeError, text);
    assert.throws(() => clock.instantOf(text), RangeError, text);
  }
  assert.throws(() => clock.isoTimestamp("20261312000000"), /invalid meter time "20261312000000"/);
});

Deno.test("isoTimestamp results are stable across repeated and interleaved calls (cache)", () => {
  const vienna = new MeterClock("Europe/Vienna");
  const utc = new MeterClock("UTC");
  for (let round = 0; round < 3; round++) {
    assert.equal(vienna.isoTimestamp("20260112163900"), "2026-01-12T16:39:00+01:00");
    assert.equal(utc.isoTimestamp("20260112163900"), "2026-01-12T16:39:00Z");
    // Same minute, different second shares the cached offset.
    assert.equal(vienna.isoTimestamp("20260112163959"), "2026-01-12T16:39:59+01:00");
  }
  // More distinct times than the cache holds: results stay correct.
  const start = Date.UTC(2026, 2, 1);
  for (let i = 0; i < 5000; i++) {
    const t = start + i * 3_600_000;
    const s = vienna.meterTimeAt(t);
    assert.equal(Date.parse(vienna.isoTimestamp(s)), vienna.instantOf(s));
  }
  assert.equal(vienna.isoTimestamp("20260712120000"), "2026-07-12T12:00:00+02:00");
});

Deno.test("meterTimeAt and wallTimeAt format an instant in the zone", () => {
  const clock = new MeterClock("Europe/Vienna");
  const t = Date.UTC(2026, 0, 12, 15, 39, 0, 999);
  assert.equal(clock.meterTimeAt(t), "20260112163900");
  assert.deepEqual(clock.wallTimeAt(t), {
    year: 2026,
    month: 1,
    day: 12,
    hour: 16,
    minute: 39,
    second: 0,
  });
  assert.equal(clock.meterTimeAt(Date.UTC(2025, 11, 31, 23, 0, 0)), "20260101000000");
  assert.equal(clock.offsetAt(t), 60);
  assert.equal(clock.offsetAt(Date.UTC(2026, 6, 1)), 120);
});

Deno.test("property: instantOf round-trips with meterTimeAt, 2000-2037, several zones", () => {
  const clocks = ROUND_TRIP_ZONES.map((zone) => new MeterClock(zone));
  fc.assert(
    fc.property(
      fc.constantFrom(...clocks),
      fc.integer({ min: FROM, max: TO }),
      (clock, seconds) => checkInstant(clock, seconds * 1000),
    ),
    { numRuns: 500 },
  );
});

Deno.test("property: instantOf round-trips with meterTimeAt around every DST transition", () => {
  const cases: Array<[MeterClock, number]> = [];
  for (
    const zone of ["Europe/Vienna", "America/New_York", "Australia/Lord_Howe", "America/Sao_Paulo"]
  ) {
    const clock = new MeterClock(zone);
    for (const t of transitions(zone, 2000, 2037)) cases.push([clock, t]);
  }
  assert.ok(cases.length > 150, `found only ${cases.length} transitions`);
  fc.assert(
    fc.property(
      fc.constantFrom(...cases),
      fc.integer({ min: -3 * 3600, max: 3 * 3600 }),
      ([clock, transition], delta) => checkInstant(clock, transition + delta * 1000),
    ),
    { numRuns: 500 },
  );
});

Deno.test("exact DST boundaries round-trip in Europe/Vienna 2000-2037", () => {
  const clock = new MeterClock("Europe/Vienna");
  const found = transitions("Europe/Vienna", 2000, 2037);
  assert.equal(found.length, 76); // two per year
  for (const t of found) {
    for (const delta of [-3_600_000, -1000, 0, 1000, 3_599_000, 3_600_000]) {
      checkInstant(clock, t + delta);
    }
  }
});
