import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeReading } from "../../src/protocol/decode.ts";
import {
  type FilterOptions,
  type FilterVerdict,
  ReadingFilter,
} from "../../src/protocol/filter.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";
import { MeterClock } from "../../src/protocol/meter_time.ts";
import { Plausibility } from "../../src/protocol/plausibility.ts";
import { LAYOUTS, type Reading } from "../../src/protocol/reading.ts";
import { CUMULATIVE_ENERGY_TAGS, ENERGY_TAGS } from "../../src/protocol/tags.ts";
import type { ReadingLevel } from "../../src/protocol/uplink.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url);
const fixture = (name: string) => JSON.parse(Deno.readTextFileSync(new URL(name, FIXTURES)));
const RT = fixture("MQTT_RT_DATA.json") as Record<string, unknown>;
const ENY = fixture("MQTT_ENY_NOW.json") as Record<string, unknown>;

const A = MeterId.parse("33B1225950027");
const B = MeterId.parse("33B1225950028");
const C = MeterId.parse("33B1225950029");

function tagsOf(level: ReadingLevel, source: Record<string, unknown>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(source).filter(([tag, v]) =>
      LAYOUTS[level].index.has(tag) && typeof v === "number"
    ),
  ) as Record<string, number>;
}
const RT_TAGS = tagsOf("seconds", RT);
const ENY_TAGS = tagsOf("minutes", ENY);
const zeros = (tags: Record<string, number>) =>
  Object.fromEntries(Object.keys(tags).map((t) => [t, 0]));

function reading(
  level: ReadingLevel,
  id: MeterId,
  time: string,
  tags: Record<string, number>,
): Reading {
  const layout = LAYOUTS[level];
  const values = new Array<number>(layout.tags.length).fill(NaN);
  for (const [tag, value] of Object.entries(tags)) {
    const i = layout.index.get(tag);
    assert.ok(i !== undefined, `unknown tag ${tag}`);
    values[i] = value;
  }
  return { level, id, time, final: true, values };
}
const rt = (id: MeterId, time: string, tags: Record<string, number> = RT_TAGS) =>
  reading("seconds", id, time, tags);
const eny = (id: MeterId, time: string, tags: Record<string, number> = ENY_TAGS) =>
  reading("minutes", id, time, tags);
const zeroRt = (id: MeterId, time: string) => rt(id, time, zeros(RT_TAGS));
const zeroEny = (id: MeterId, time: string) => eny(id, time, zeros(ENY_TAGS));

/** Meter time `n` minutes after 2026-01-12 16:00: time(0) = "20260112160000". */
function time(n: number): string {
  const minutes = 16 * 60 + n;
  const hh = String(Math.floor(minutes / 60) % 24).padStart(2, "0");
  const mm = String(minutes % 60).padStart(2, "0");
  return `20260112${hh}${mm}00`;
}

const OPTIONS: FilterOptions = {
  exclude: new Set(),
  zeroConfirmReadings: 3,
  maxMeters: 1000,
  resetConfirmReadings: 5,
  plausibility: Plausibility.parse({}),
};

const UTC = new MeterClock("UTC");

/**
 * Checks a reading arriving when the meter's clock (UTC) says it was taken;
 * `redelivered` as with the MQTT DUP flag.
 */
function check(filter: ReadingFilter, reading: Reading, redelivered = false): FilterVerdict {
  const instant = UTC.instantOf(reading.time);
  return filter.check(reading, {
    now: instant,
    instant,
    replayed: redelivered ? "redelivered" : undefined,
  });
}
const PUBLISH: FilterVerdict = { publish: true, zeroConfirmed: false };
const PUBLISH_CONFIRMED: FilterVerdict = { publish: true, zeroConfirmed: true };

function assertDropped(verdict: FilterVerdict, code: string, reason?: string | RegExp): void {
  assert.equal(verdict.publish, false, `published, expected ${code}`);
  if (verdict.publish) return;
  assert.equal(verdict.code, code, verdict.reason);
  if (typeof reason === "string") assert.equal(verdict.reason, reason);
  else if (reason) assert.match(verdict.reason, reason);
}

/** A filter whose meter A is live (a real instantaneous reading was published). */
function liveFilter(options: Partial<FilterOptions> = {}, ...ids: MeterId[]): ReadingFilter {
  const filter = new ReadingFilter({ ...OPTIONS, ...options });
  for (const id of ids.length > 0 ? ids : [A]) {
    assert.deepEqual(check(filter, rt(id, time(0))), PUBLISH);
  }
  return filter;
}

Deno.test("excluded ids are dropped and not tracked", () => {
  const filter = new ReadingFilter({ ...OPTIONS, exclude: new Set([A]) });
  assertDropped(check(filter, rt(A, time(0))), "excluded", "meter is in meters.exclude");
  assertDropped(check(filter, eny(A, time(0))), "excluded");
  assertDropped(check(filter, zeroEny(A, time(0))), "excluded");
  assert.equal(filter.meters, 0);
  assert.deepEqual(check(filter, rt(B, time(0))), PUBLISH);
  assert.equal(filter.meters, 1);
});

Deno.test("real readings are published", () => {
  const filter = new ReadingFilter(OPTIONS);
  assert.deepEqual(check(filter, rt(A, time(0))), PUBLISH);
  assert.deepEqual(check(filter, eny(A, time(0))), PUBLISH);
  assert.deepEqual(check(filter, rt(A, time(1), { ...RT_TAGS, zyggl: 7 })), PUBLISH);
  assert.equal(filter.meters, 1);
});

Deno.test("an all-zero seconds reading is always a zero burst", () => {
  const filter = new ReadingFilter(OPTIONS);
  const reason = "all values are 0 (a powered meter measures a voltage)";
  assertDropped(check(filter, zeroRt(A, time(0))), "zero_burst", reason); // new meter
  assert.deepEqual(check(filter, rt(A, time(1))), PUBLISH);
  for (let n = 2; n < 10; n++) {
    assertDropped(check(filter, zeroRt(A, time(n))), "zero_burst", reason);
  }
  // Missing tags do not make a zero reading real.
  assertDropped(check(filter, rt(A, time(20), { ua: 0, zyggl: 0 })), "zero_burst", reason);
  assertDropped(check(filter, rt(A, time(21), { ua: -0 })), "zero_burst", reason);
  // One non-zero value is enough to be real.
  assert.deepEqual(check(filter, rt(A, time(22), { ...zeros(RT_TAGS), f: 49.9 })), PUBLISH);
});

Deno.test("an exact repeat is a duplicate; the same time with changed values is forwarded", () => {
  const filter = liveFilter();
  const first = eny(A, time(1), { ...ENY_TAGS, zygsz: 117.779 });
  assert.deepEqual(check(filter, first), PUBLISH);
  assertDropped(
    check(filter, eny(A, time(1), { ...ENY_TAGS, zygsz: 117.779 })),
    "duplicate",
    `repeat of the reading at ${time(1)}`,
  );
  assert.deepEqual(check(filter, eny(A, time(1), { ...ENY_TAGS, zygsz: 117.783 })), PUBLISH);
  assertDropped(check(filter, eny(A, time(1), { ...ENY_TAGS, zygsz: 117.783 })), "duplicate");
  // Seconds level too.
  assertDropped(check(filter, rt(A, time(0))), "duplicate", `repeat of the reading at ${time(0)}`);
  assert.deepEqual(check(filter, rt(A, time(0), { ...RT_TAGS, zyggl: 6.7 })), PUBLISH);
  // Missing versus present is a change; missing versus missing is the same.
  const { zyggl: _, ...withoutPower } = RT_TAGS;
  assert.deepEqual(check(filter, rt(A, time(0), withoutPower)), PUBLISH);
  assertDropped(check(filter, rt(A, time(0), withoutPower)), "duplicate");
});

Deno.test("the same values at a new time are not duplicates", () => {
  const filter = liveFilter();
  assert.deepEqual(check(filter, eny(A, time(1))), PUBLISH);
  assert.deepEqual(check(filter, eny(A, time(2))), PUBLISH);
  assert.deepEqual(check(filter, rt(A, time(1))), PUBLISH);
});

Deno.test("every cumulative energy register going backwards is energy_regression", () => {
  const registers = [...CUMULATIVE_ENERGY_TAGS];
  assert.ok(registers.length >= 17, `only ${registers.length} cumulative registers`);
  assert.ok(
    registers.includes("zygsz") && registers.includes("zszsz") && registers.includes("fwgsz"),
  );
  const base = Object.fromEntries(registers.map((tag) => [tag, 100]));
  for (const tag of registers) {
    const filter = liveFilter();
    assert.deepEqual(check(filter, eny(A, time(1), base)), PUBLISH);
    assertDropped(
      check(filter, eny(A, time(2), { ...base, [tag]: 99.999 })),
      "energy_regression",
      `register ${tag} would go backwards from 100 to 99.999 (1 of 5 consistent readings accept ` +
        "it as a register reset)",
    );
    // Also for a second copy with the same time.
    assertDropped(check(filter, eny(A, time(1), { ...base, [tag]: 99 })), "energy_regression");
    // The regressed value was not recorded: the original value still counts.
    assertDropped(check(filter, eny(A, time(3), { ...base, [tag]: 99.9999 })), "energy_regression");
    assert.deepEqual(check(filter, eny(A, time(3), { ...base, [tag]: 100 })), PUBLISH);
    assert.deepEqual(check(filter, eny(A, time(4), { ...base, [tag]: 100.001 })), PUBLISH);
  }
});

Deno.test("non-cumulative minutes values (harmonics, max demand) may go down", () => {
  const filter = liveFilter();
  assert.equal(CUMULATIVE_ENERGY_TAGS.has("dmpmax"), false);
  assert.equal(CUMULATIVE_ENERGY_TAGS.has("uathd"), false);
  assert.deepEqual(check(filter, eny(A, time(1), { ...ENY_TAGS, dmpmax: 10, uathd: 3 })), PUBLISH);
  assert.deepEqual(check(filter, eny(A, time(2), { ...ENY_TAGS, dmpmax: 5, uathd: 1 })), PUBLISH);
});

Deno.test("instantaneous values may go down", () => {
  const filter = liveFilter();
  assert.deepEqual(check(filter, rt(A, time(1), { ...RT_TAGS, zyggl: 1 })), PUBLISH);
  assert.deepEqual(check(filter, rt(A, time(2), { ...RT_TAGS, zyggl: -5 })), PUBLISH);
});

Deno.test("day registers going backwards are energy_regression", () => {
  const filter = liveFilter();
  assert.deepEqual(check(filter, reading("day", A, "20260117000000", { zygdd: 160 })), PUBLISH);
  assertDropped(
    check(filter, reading("day", A, "20260118000000", { zygdd: 150 })),
    "energy_regression",
    "register zygdd would go backwards from 160 to 150 (1 of 5 consistent readings accept it as " +
      "a register reset)",
  );
  assert.deepEqual(check(filter, reading("day", A, "20260118000000", { zygdd: 170 })), PUBLISH);
});

Deno.test("a zero ENY burst between real readings is dropped", () => {
  const filter = liveFilter();
  assert.deepEqual(check(filter, eny(A, time(1))), PUBLISH);
  assertDropped(
    check(filter, zeroEny(A, time(1))),
    "zero_burst",
    "all registers are 0 after non-zero readings",
  );
  assertDropped(check(filter, zeroEny(A, time(2))), "zero_burst");
  assert.deepEqual(check(filter, eny(A, time(2), { ...ENY_TAGS, zygsz: 163.5 })), PUBLISH);
  // A reading that merely lacks some tags and is 0 elsewhere is still a burst.
  assertDropped(check(filter, eny(A, time(3), { zygsz: 0 })), "zero_burst");
});

Deno.test("after a non-zero energy reading, zero readings are bursts forever", () => {
  const filter = liveFilter({ zeroConfirmReadings: 2 });
  assert.deepEqual(check(filter, eny(A, time(1))), PUBLISH);
  for (let n = 2; n < 60; n++) {
    assertDropped(
      check(filter, zeroEny(A, time(n))),
      "zero_burst",
      "all registers are 0 after non-zero readings",
    );
    assert.deepEqual(check(filter, rt(A, time(n), { ...RT_TAGS, zyggl: n })), PUBLISH);
  }
});

Deno.test("a new meter: zero registers are held until it is live and confirmed, then published", () => {
  const filter = new ReadingFilter(OPTIONS); // zeroConfirmReadings: 3
  assertDropped(
    check(filter, zeroEny(A, time(1))),
    "zero_burst",
    "all registers are 0 and the meter has sent no real reading yet",
  );
  assert.deepEqual(check(filter, rt(A, time(1))), PUBLISH); // now live
  assertDropped(
    check(filter, zeroEny(A, time(1))),
    "zero_burst",
    "all registers are 0 (1 of 3 readings to confirm a new meter)",
  );
  // The same time again does not count twice.
  assertDropped(
    check(filter, zeroEny(A, time(1))),
    "zero_burst",
    "all registers are 0 (1 of 3 readings to confirm a new meter)",
  );
  assertDropped(
    check(filter, zeroEny(A, time(2))),
    "zero_burst",
    "all registers are 0 (2 of 3 readings to confirm a new meter)",
  );
  assert.deepEqual(check(filter, zeroEny(A, time(3))), PUBLISH_CONFIRMED);
  // Later zero readings are published too (no longer marked as the confirmation).
  assert.deepEqual(check(filter, zeroEny(A, time(4))), PUBLISH);
  assertDropped(check(filter, zeroEny(A, time(4))), "duplicate");
  assert.deepEqual(check(filter, zeroEny(A, time(5))), PUBLISH);
  // First consumption: published, and zeros are bursts from then on.
  assert.deepEqual(check(filter, eny(A, time(6), { ...zeros(ENY_TAGS), zygsz: 0.001 })), PUBLISH);
  assertDropped(check(filter, zeroEny(A, time(7))), "zero_burst");
});

Deno.test("zeroConfirmReadings 1 publishes the first zero reading of a live meter", () => {
  const filter = liveFilter({ zeroConfirmReadings: 1 });
  assert.deepEqual(check(filter, zeroEny(A, time(1))), PUBLISH_CONFIRMED);
});

Deno.test("a non-zero energy reading resets the zero confirmation count", () => {
  const filter = liveFilter();
  assertDropped(check(filter, zeroEny(A, time(1))), "zero_burst", /1 of 3/);
  assertDropped(check(filter, zeroEny(A, time(2))), "zero_burst", /2 of 3/);
  assert.deepEqual(check(filter, eny(A, time(3))), PUBLISH);
  assertDropped(
    check(filter, zeroEny(A, time(4))),
    "zero_burst",
    "all registers are 0 after non-zero readings",
  );
});

Deno.test("a meter that only ever sends zeros is never published", () => {
  const filter = new ReadingFilter(OPTIONS);
  for (let n = 0; n < 200; n++) {
    const rtVerdict = check(filter, zeroRt(C, time(n)));
    assertDropped(rtVerdict, "zero_burst");
    const enyVerdict = check(filter, zeroEny(C, time(n)));
    assertDropped(
      enyVerdict,
      "zero_burst",
      "all registers are 0 and the meter has sent no real reading yet",
    );
  }
});

Deno.test("zero confirmation is per meter and per level", () => {
  const filter = liveFilter({}, A, B);
  assertDropped(check(filter, zeroEny(A, time(1))), "zero_burst", /1 of 3/);
  assertDropped(check(filter, zeroEny(B, time(1))), "zero_burst", /1 of 3/);
  assertDropped(check(filter, reading("day", A, time(1), { zygdd: 0 })), "zero_burst", /1 of 3/);
  assertDropped(check(filter, zeroEny(A, time(2))), "zero_burst", /2 of 3/);
  assert.deepEqual(check(filter, zeroEny(A, time(3))), PUBLISH_CONFIRMED);
  assertDropped(check(filter, zeroEny(B, time(2))), "zero_burst", /2 of 3/);
});

Deno.test("maxMeters forgets the least recently active meter", () => {
  const filter = new ReadingFilter({ ...OPTIONS, maxMeters: 2 });
  assert.deepEqual(check(filter, eny(A, time(1), { zygsz: 100 })), PUBLISH);
  assert.deepEqual(check(filter, eny(B, time(1), { zygsz: 100 })), PUBLISH);
  assert.equal(filter.meters, 2);
  // A is active again, so B is the least recently active when C arrives.
  assertDropped(check(filter, eny(A, time(2), { zygsz: 50 })), "energy_regression");
  assert.deepEqual(check(filter, eny(C, time(1), { zygsz: 100 })), PUBLISH);
  assert.equal(filter.meters, 2);
  // B was forgotten: its lower register is no longer a regression.
  assert.deepEqual(check(filter, eny(B, time(2), { zygsz: 50 })), PUBLISH);
  assert.equal(filter.meters, 2);
  // That evicted A (least recently active): A's history is gone, C's is kept.
  assert.deepEqual(check(filter, eny(A, time(3), { zygsz: 50 })), PUBLISH);
  assertDropped(check(filter, eny(B, time(3), { zygsz: 40 })), "energy_regression");
});

Deno.test("maxMeters: a forgotten meter must prove it is live again", () => {
  const filter = new ReadingFilter({ ...OPTIONS, maxMeters: 1, zeroConfirmReadings: 1 });
  assert.deepEqual(check(filter, rt(A, time(0))), PUBLISH);
  assert.deepEqual(check(filter, rt(B, time(0))), PUBLISH); // evicts A
  assert.equal(filter.meters, 1);
  assertDropped(check(filter, zeroEny(A, time(1))), "zero_burst", /no real reading yet/);
});

Deno.test("replay of the ENY capture publishes only the real readings", () => {
  const lines = Deno.readTextFileSync(new URL("MQTT_ENY_NOW_capture_short.jsonl", FIXTURES))
    .split("\n").filter((l) => l.trim());
  const filter = new ReadingFilter(OPTIONS);
  // Meters 027, 028 and 029 are live; 030 never sends a real reading.
  for (const id of ["33B1225950027", "33B1225950028", "33B1225950029"]) {
    assert.deepEqual(check(filter, rt(MeterId.parse(id), "20260117211400")), PUBLISH);
  }
  const verdicts = lines.map((line) => {
    const r = decodeReading("MQTT_ENY_NOW", new TextEncoder().encode(line), 65536);
    assert.equal("ok" in r, false);
    const v = check(filter, r as Reading);
    return v.publish ? "publish" : v.code;
  });
  assert.deepEqual(verdicts, [
    "publish", // 028 31.057
    "zero_burst", // 029 zeros (1 of 3)
    "publish", // 027 163.486
    "zero_burst", // 028 zeros after a real reading
    "duplicate", // 028 31.057 again
    "zero_burst", // 029 zeros, same time again
    "publish", // 029 168.878 (clock in 2005)
    "zero_burst", // 030 never live
    "publish", // 029 same time, zszsz 252.646 → 252.647
    "zero_burst", // 030
  ]);
});

Deno.test("property: published energy registers of a meter never go backwards", () => {
  const registers = ["zygsz", "fygsz", "zszsz"];
  const step = fc.record({
    zero: fc.boolean(),
    time: fc.integer({ min: 0, max: 20 }),
    values: fc.tuple(...registers.map(() => fc.integer({ min: 0, max: 50 }))),
  });
  fc.assert(
    fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
      // No reset can be confirmed here: see the reset properties for those.
      const filter = liveFilter({ zeroConfirmReadings: 2, resetConfirmReadings: 100 });
      const last = new Map<string, number>();
      for (const s of steps) {
        const tags = Object.fromEntries(
          registers.map((tag, i) => [tag, s.zero ? 0 : s.values[i] ?? 0]),
        );
        const verdict = check(filter, eny(A, time(s.time), tags));
        if (!verdict.publish) continue;
        for (const [tag, value] of Object.entries(tags)) {
          assert.ok(value >= (last.get(tag) ?? 0), `${tag} went from ${last.get(tag)} to ${value}`);
          last.set(tag, value);
        }
      }
    }),
    { numRuns: 300 },
  );
});

Deno.test("ENERGY_TAGS registers are exactly the cumulative ones with energy units", () => {
  for (const [tag, info] of Object.entries(ENERGY_TAGS)) {
    assert.equal(
      CUMULATIVE_ENERGY_TAGS.has(tag),
      ["kWh", "kvarh", "kVAh"].includes(info.unit ?? ""),
      tag,
    );
  }
});

Deno.test("a redelivered reading not newer than the last forwarded one is a duplicate", () => {
  const filter = liveFilter();
  const more = { ...ENY_TAGS, zygsz: (ENY_TAGS.zygsz ?? NaN) + 1 };
  assert.deepEqual(check(filter, eny(A, time(1))), PUBLISH);
  assert.deepEqual(check(filter, eny(A, time(2), more)), PUBLISH);
  assertDropped(
    check(filter, eny(A, time(1)), true),
    "duplicate",
    `redelivered reading at ${time(1)}; ${time(2)} was already forwarded`,
  );
  assertDropped(check(filter, eny(A, time(2), more), true), "duplicate");
  // Without the DUP flag the older time is not judged by time (a clock may have been set back) …
  const same = check(filter, eny(A, time(1), more));
  assert.deepEqual(same, PUBLISH);
  // … and a redelivered reading newer than the last one is new to the bridge.
  assert.deepEqual(check(filter, eny(A, time(3), more), true), PUBLISH);
});

Deno.test("a meter's history survives export and restore, registers without a value included", () => {
  const filter = liveFilter();
  const withGap = { ...ENY_TAGS, zygsz: 100 };
  const published = eny(A, time(1), withGap);
  assert.ok(published.values.some(Number.isNaN), "the fixture leaves some registers without value");
  assert.deepEqual(check(filter, published), PUBLISH);
  const exported = filter.exportMeter(A);
  assert.ok(exported !== undefined);
  assert.equal(filter.exportMeter(B), undefined);

  const restored = new ReadingFilter(OPTIONS);
  restored.restoreMeter(A, exported);
  assert.equal(restored.exportMeter(A), exported);
  assertDropped(check(restored, eny(A, time(2), { ...withGap, zygsz: 99 })), "energy_regression");
  assertDropped(check(restored, published, true), "duplicate");
  // Live: a zero energy reading after real ones is a burst, as before the restart.
  assertDropped(check(restored, zeroEny(A, time(3))), "zero_burst");

  restored.restoreMeter(B, "{not json");
  restored.restoreMeter(C, JSON.stringify({ live: "yes" }));
  assert.equal(restored.exportMeter(B), undefined);
  assert.equal(restored.exportMeter(C), undefined);
});

Deno.test("a history stored by earlier versions (every value) restores and still guards", () => {
  const filter = liveFilter();
  const published = eny(A, time(1), { ...ENY_TAGS, zygsz: 100 });
  check(filter, published);
  // The format earlier versions wrote: all values of each level, null for no value.
  const old = JSON.stringify({
    live: true,
    last: {
      minutes: {
        time: time(1),
        values: published.values.map((v) => Number.isNaN(v) ? null : v),
        nonZero: true,
      },
    },
  });
  const restored = new ReadingFilter(OPTIONS);
  restored.restoreMeter(A, old);
  assertDropped(check(restored, eny(A, time(2), { ...ENY_TAGS, zygsz: 99 })), "energy_regression");
  assertDropped(check(restored, published), "duplicate");
  assert.deepEqual(check(restored, eny(A, time(2), { ...ENY_TAGS, zygsz: 101 })), PUBLISH);
});

Deno.test("the stored history of a meter stays small: no values beyond the registers", () => {
  const filter = liveFilter();
  check(filter, eny(A, time(1), { ...ENY_TAGS, zygsz: 100 }));
  const stored = JSON.parse(filter.exportMeter(A)!);
  assert.ok(!("values" in stored.last.minutes));
  // Per level: time, digest, the 17 registers, and when the reading arrived with its clock drift.
  assert.deepEqual(Object.keys(stored.last.minutes), [
    "time",
    "digest",
    "registers",
    "nonZero",
    "at",
    "drift",
  ]);
  assert.ok(JSON.stringify(stored).length < 360, JSON.stringify(stored));
});

/** Checks a reading arriving at gateway time `now` (epoch ms). */
function checkAt(filter: ReadingFilter, reading: Reading, now: number): FilterVerdict {
  return filter.check(reading, { now, instant: UTC.instantOf(reading.time) });
}

Deno.test("an absurd value is rejected and never becomes the level later readings meet", () => {
  const filter = liveFilter();
  assert.deepEqual(check(filter, eny(A, time(1), { zygsz: 100 })), PUBLISH);
  for (const absurd of [1e300, 1e10, -1]) {
    assertDropped(check(filter, eny(A, time(2), { zygsz: absurd })), "implausible_value", /zygsz/);
  }
  assert.deepEqual(check(filter, eny(A, time(3), { zygsz: 101 })), PUBLISH);
  // Also for the first reading of a meter: nothing is recorded.
  assertDropped(check(filter, eny(B, time(1), { zygsz: 1e300 })), "implausible_value");
  assert.equal(filter.exportMeter(B), undefined);
  // And across a restart: the stored history holds the real value only.
  const restored = new ReadingFilter(OPTIONS);
  restored.restoreMeter(A, filter.exportMeter(A)!);
  assert.deepEqual(check(restored, eny(A, time(4), { zygsz: 102 })), PUBLISH);
});

Deno.test("an energy register rising faster than the meter could is rejected, then forgotten", () => {
  const filter = liveFilter({ plausibility: Plausibility.parse({ max_power_kw: 60 }) });
  assert.deepEqual(check(filter, eny(A, time(1), { zygsz: 100 })), PUBLISH);
  // A minute at 60 kW, twice over: 2 kWh.
  assertDropped(
    check(filter, eny(A, time(2), { zygsz: 900_000 })),
    "implausible_rise",
    /^active_energy \(zygsz\) would rise from 100 to 900000 kWh within 60 s, .*\(1 of 5 consistent readings accept it as a register reset\)$/,
  );
  assert.deepEqual(check(filter, eny(A, time(3), { zygsz: 101 })), PUBLISH);
  assert.deepEqual(check(filter, eny(A, time(63), { zygsz: 150 })), PUBLISH);
});

Deno.test("a register reset: restarting lower and rising consistently is accepted once confirmed", () => {
  const filter = liveFilter({ plausibility: Plausibility.parse({ max_power_kw: 60 }) });
  assert.deepEqual(check(filter, eny(A, time(1), { zygsz: 1000, zszsz: 1100 })), PUBLISH);
  const reset = (n: number) => ({ zygsz: 2 + n, zszsz: 3 + n });
  for (let n = 0; n < 4; n++) {
    // Each reading is sent twice, as real meters do: the copy neither counts nor restarts.
    for (let copy = 0; copy < 2; copy++) {
      assertDropped(
        check(filter, eny(A, time(2 + n), reset(n))),
        "energy_regression",
        new RegExp(`\\(${n + 1} of 5 consistent readings accept it as a register reset\\)$`),
      );
    }
  }
  assert.deepEqual(check(filter, eny(A, time(6), reset(4))), {
    publish: true,
    zeroConfirmed: false,
    reset: { register: "zszsz", from: 1100, to: 7 },
  });
  // From now on the new value is the level: the next readings continue from it.
  assert.deepEqual(check(filter, eny(A, time(7), reset(5))), PUBLISH);
  assertDropped(check(filter, eny(A, time(8), { zygsz: 1000, zszsz: 1100 })), "implausible_rise");
});

Deno.test("a single low reading among higher ones is still dropped, and restarts no count", () => {
  const filter = liveFilter({ resetConfirmReadings: 2 });
  assert.deepEqual(check(filter, eny(A, time(1), { zygsz: 1000 })), PUBLISH);
  assertDropped(check(filter, eny(A, time(2), { zygsz: 5 })), "energy_regression");
  // Back on the old series: the candidate is gone, the low reading was a glitch.
  assert.deepEqual(check(filter, eny(A, time(3), { zygsz: 1001 })), PUBLISH);
  assertDropped(check(filter, eny(A, time(4), { zygsz: 5.1 })), "energy_regression", /1 of 2/);
  // Two glitches that disagree with each other confirm nothing.
  assertDropped(check(filter, eny(A, time(5), { zygsz: 3 })), "energy_regression", /1 of 2/);
  // Out of time order confirms nothing either.
  assertDropped(check(filter, eny(A, time(4), { zygsz: 3.5 })), "energy_regression", /1 of 2/);
  assert.deepEqual(check(filter, eny(A, time(6), { zygsz: 1002 })), PUBLISH);
});

Deno.test("a jump upwards (a replacement meter with a higher count) is confirmed the same way", () => {
  const filter = liveFilter({
    resetConfirmReadings: 3,
    plausibility: Plausibility.parse({ max_power_kw: 60 }),
  });
  assert.deepEqual(check(filter, eny(A, time(1), { zygsz: 100 })), PUBLISH);
  assertDropped(check(filter, eny(A, time(2), { zygsz: 50_000 })), "implausible_rise", /1 of 3/);
  assertDropped(check(filter, eny(A, time(3), { zygsz: 50_001 })), "implausible_rise", /2 of 3/);
  assert.deepEqual(check(filter, eny(A, time(4), { zygsz: 50_002 })), {
    publish: true,
    zeroConfirmed: false,
    reset: { register: "zygsz", from: 100, to: 50_002 },
  });
});

Deno.test("resetConfirmReadings 1 accepts a reset at once", () => {
  const filter = liveFilter({ resetConfirmReadings: 1 });
  check(filter, eny(A, time(1), { zygsz: 1000 }));
  assert.deepEqual(check(filter, eny(A, time(2), { zygsz: 1 })), {
    publish: true,
    zeroConfirmed: false,
    reset: { register: "zygsz", from: 1000, to: 1 },
  });
});

Deno.test("implausible times are rejected without touching history; 2005 clocks pass", () => {
  const filter = liveFilter();
  const now = UTC.instantOf(time(10));
  assertDropped(
    checkAt(filter, eny(A, "20991231235959", { zygsz: 100 }), now),
    "implausible_time",
    /^time 20991231235959 is 74 years ahead of the gateway clock/,
  );
  assertDropped(checkAt(filter, eny(A, "00000101000000", { zygsz: 100 }), now), "implausible_time");
  assertDropped(checkAt(filter, eny(A, "99991231235959", { zygsz: 100 }), now), "implausible_time");
  assert.deepEqual(checkAt(filter, eny(A, time(9), { zygsz: 100 }), now), PUBLISH);
  // The 2099 reading did not become "the last forwarded": a redelivered real one is still news.
  assert.deepEqual(
    filter.check(eny(A, time(11), { zygsz: 101 }), {
      now,
      instant: UTC.instantOf(time(11)),
      replayed: "redelivered",
    }),
    PUBLISH,
  );
  assert.deepEqual(checkAt(filter, eny(B, "20050101000000", { zygsz: 5 }), now), PUBLISH);
});

Deno.test("a clock running ahead within the margin becomes known drift and keeps working", () => {
  const filter = liveFilter();
  const hours = (n: number) => n * 3_600_000;
  const now = UTC.instantOf(time(0));
  // 20 h ahead: within the day of margin; from then on 20 h ahead is what this meter does.
  assert.deepEqual(checkAt(filter, eny(A, "20260113120000", { zygsz: 100 }), now), PUBLISH);
  assert.deepEqual(
    checkAt(filter, eny(A, "20260114110000", { zygsz: 101 }), now + hours(23)),
    PUBLISH,
  );
  // A jump a day beyond the known drift is not.
  assertDropped(
    checkAt(filter, eny(A, "20260116000000", { zygsz: 102 }), now + hours(24)),
    "implausible_time",
  );
});

Deno.test("a retained reading handed over at subscribe is not news: older ones are dropped", () => {
  const filter = liveFilter();
  const arrival = (t: string, replayed?: "retained") => ({
    now: UTC.instantOf(t),
    instant: UTC.instantOf(t),
    replayed,
  });
  assert.deepEqual(filter.check(eny(A, time(5), { zygsz: 105 }), arrival(time(5))), PUBLISH);
  assertDropped(
    filter.check(eny(A, time(3), { zygsz: 103 }), arrival(time(3), "retained")),
    "duplicate",
    `retained reading at ${time(3)}; ${time(5)} was already forwarded`,
  );
  // A retained reading newer than anything forwarded is new to the bridge.
  assert.deepEqual(
    filter.check(eny(A, time(6), { zygsz: 106 }), arrival(time(6), "retained")),
    PUBLISH,
  );
});

Deno.test("forget clears a meter's history on purpose", () => {
  const filter = liveFilter();
  assert.equal(filter.has(B), false);
  check(filter, eny(A, time(1), { zygsz: 1000 }));
  assert.equal(filter.has(A), true);
  assert.equal(filter.forget(A), true);
  assert.equal(filter.has(A), false);
  assert.equal(filter.forget(A), false);
  assert.equal(filter.exportMeter(A), undefined);
  assert.deepEqual(check(filter, eny(A, time(2), { zygsz: 1 })), PUBLISH);
});

Deno.test("a meter frozen by an absurd value an earlier version stored recovers by itself", () => {
  // What earlier versions stored after publishing zygsz 1e300: every real reading was a regression.
  const frozen = new ReadingFilter(OPTIONS);
  const stored = JSON.stringify({
    live: true,
    last: {
      minutes: {
        time: time(1),
        digest: 1,
        registers: registersOfValues({ zygsz: 1e300 }),
        nonZero: true,
      },
    },
  });
  frozen.restoreMeter(A, stored);
  for (let n = 2; n <= 5; n++) {
    assertDropped(check(frozen, eny(A, time(n), { zygsz: 100 + n })), "energy_regression");
  }
  const verdict = check(frozen, eny(A, time(6), { zygsz: 106 }));
  assert.deepEqual(verdict, {
    publish: true,
    zeroConfirmed: false,
    reset: { register: "zygsz", from: 1e300, to: 106 },
  });
  assert.deepEqual(check(frozen, eny(A, time(7), { zygsz: 107 })), PUBLISH);
});

/** The cumulative registers of a minutes reading with `tags`, as a history stores them. */
function registersOfValues(tags: Record<string, number>): (number | null)[] {
  const values = eny(A, time(0), tags).values;
  return [...CUMULATIVE_ENERGY_TAGS].map((tag) => {
    const value = values[LAYOUTS.minutes.index.get(tag)!];
    return value === undefined || Number.isNaN(value) ? null : value;
  });
}

Deno.test("a reading without a register does not lift that register's guard", () => {
  const filter = liveFilter();
  assert.deepEqual(check(filter, eny(A, time(1), { zygsz: 1000 })), PUBLISH);
  assert.deepEqual(check(filter, eny(A, time(2), { fygsz: 0, uathd: 3 })), PUBLISH);
  assertDropped(check(filter, eny(A, time(3), { zygsz: 5 })), "energy_regression", /1000 to 5/);
  assert.deepEqual(check(filter, eny(A, time(4), { zygsz: 1001 })), PUBLISH);
  // Also across a restart: the carried value is stored with the history.
  check(filter, eny(A, time(5), { uathd: 3 }));
  const restored = new ReadingFilter(OPTIONS);
  restored.restoreMeter(A, filter.exportMeter(A)!);
  assertDropped(check(restored, eny(A, time(6), { zygsz: 5 })), "energy_regression");
});

Deno.test("a register's rise after a gap is not judged from the time of the reading without it", () => {
  const filter = liveFilter({ plausibility: Plausibility.parse({ max_power_kw: 60 }) });
  assert.deepEqual(check(filter, eny(A, time(0), { zygsz: 100 })), PUBLISH);
  assert.deepEqual(check(filter, eny(A, time(59), { uathd: 3 })), PUBLISH);
  // 58 kWh in the hour since zygsz was last seen, one minute after the reading without it.
  assert.deepEqual(check(filter, eny(A, time(60), { zygsz: 158 })), PUBLISH);
  assertDropped(check(filter, eny(A, time(61), { zygsz: 500 })), "implausible_rise");
});

Deno.test("readings older than the last published one never count towards a reset", () => {
  const filter = liveFilter();
  for (let n = 0; n <= 9; n++) check(filter, eny(A, time(n), { zygsz: 100 + n }));
  // Late copies of t3 … t7 (no DUP flag): lower than 109, but not a reset.
  for (let n = 3; n <= 7; n++) {
    assertDropped(
      check(filter, eny(A, time(n), { zygsz: 100 + n + 0.5 })),
      "energy_regression",
      /not counted towards a register reset\)$/,
    );
  }
  assert.deepEqual(check(filter, eny(A, time(10), { zygsz: 110 })), PUBLISH);
});

/** Minutes after 2026-01-12 00:00 as a meter time (spans days, unlike {@link time}). */
function minuteTime(n: number): string {
  return new Date(Date.UTC(2026, 0, 12) + n * 60_000).toISOString().replace(/\D/g, "").slice(0, 14);
}

/** One step of a meter's register series, as the property tests generate it. */
type Step =
  | { readonly kind: "real"; readonly rise: number; readonly copies: number }
  | { readonly kind: "gap" }
  | { readonly kind: "reset"; readonly fraction: number }
  | { readonly kind: "absurd"; readonly value: number }
  | { readonly kind: "low"; readonly fraction: number }
  | { readonly kind: "high" }
  | { readonly kind: "future" };

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      kind: fc.constant("real" as const),
      rise: fc.double({ min: 0, max: 10, noNaN: true }),
      copies: fc.integer({ min: 1, max: 2 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("reset" as const),
      fraction: fc.double({ min: 0, max: 0.99, noNaN: true }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("absurd" as const),
      value: fc.constantFrom(1e300, Number.MAX_VALUE, 1.0000001e9, -0.5, -1e12),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("low" as const),
      fraction: fc.double({ min: 0, max: 0.99, noNaN: true }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "high" as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: "gap" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "future" as const }) },
);

/**
 * Feeds a meter's series with injected glitches and resets, one reading a
 * minute: real readings rise by at most 10 kWh a minute (a 1000 kW meter may
 * rise 33 kWh), glitches are single readings. Successive glitches never agree
 * with each other (each low one is lower, each high one lower than the last
 * high one), or they would be a consistent series: a reset.
 */
function feed(steps: readonly Step[], confirm: number) {
  const filter = liveFilter({
    resetConfirmReadings: confirm,
    plausibility: Plausibility.parse({ max_power_kw: 1000 }),
  });
  let truth = 1000;
  let minute = 1;
  let lastLow = Infinity;
  let nextHigh = truth + 1e8;
  const outcomes: Array<{ step: Step; value: number; verdict: FilterVerdict }> = [];
  const send = (step: Step, value: number, t = minuteTime(minute)) => {
    const verdict = checkAt(filter, eny(A, t, { zygsz: value }), UTC.instantOf(minuteTime(minute)));
    outcomes.push({ step, value, verdict });
  };
  // The first reading has nothing to be compared with: a real one starts the series.
  send({ kind: "real", rise: 0, copies: 1 }, truth);
  for (const step of steps) {
    minute++;
    switch (step.kind) {
      case "real":
        truth += step.rise;
        for (let c = 0; c < step.copies; c++) send(step, truth);
        break;
      case "reset":
        truth *= step.fraction;
        send(step, truth);
        break;
      case "absurd":
        send(step, step.value);
        break;
      case "gap": {
        // A reading without the register (as in MQTT_ENY_NOW_missing_data.json).
        const reading = eny(A, minuteTime(minute), { uathd: 3 });
        outcomes.push({
          step,
          value: NaN,
          verdict: checkAt(filter, reading, UTC.instantOf(minuteTime(minute))),
        });
        break;
      }
      case "low":
        lastLow = Math.min(truth * step.fraction, lastLow) - 0.001;
        send(step, lastLow);
        break;
      case "high":
        // Beyond any plausible rise from anything this meter ever reported.
        nextHigh -= 1000;
        send(step, nextHigh);
        break;
      case "future":
        send(step, truth, minuteTime(minute + 3 * 1440));
        break;
    }
  }
  return { filter, outcomes, truth, minute };
}

Deno.test("property: glitches are never published, energy only goes back at an accepted reset", () => {
  fc.assert(
    fc.property(
      fc.array(stepArbitrary, { maxLength: 120 }),
      fc.integer({ min: 2, max: 5 }),
      (steps, confirm) => {
        const { outcomes } = feed(steps, confirm);
        let published: number | undefined;
        let resetSent = false;
        for (const { step, value, verdict } of outcomes) {
          const glitch = !["real", "reset", "gap"].includes(step.kind);
          if (glitch) {
            assert.equal(verdict.publish, false, `${step.kind} ${value} was published`);
            continue;
          }
          if (step.kind === "reset") resetSent = true;
          if (!verdict.publish || step.kind === "gap") continue;
          if (verdict.reset !== undefined) {
            assert.ok(resetSent, `a reset from ${published} to ${value} the meter never made`);
            resetSent = false;
          }
          if (published !== undefined && value < published) {
            assert.ok(verdict.reset, `went back from ${published} to ${value} without a reset`);
          }
          if (verdict.reset !== undefined) {
            assert.equal(verdict.reset.to, value);
            assert.equal(verdict.reset.from, published);
          }
          published = value;
        }
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("property: after any glitches and resets, a meter keeps publishing", () => {
  fc.assert(
    fc.property(
      fc.array(stepArbitrary, { maxLength: 120 }),
      fc.integer({ min: 1, max: 5 }),
      (steps, confirm) => {
        const run = feed(steps, confirm);
        // At most `confirm` real readings later, every real reading is published again.
        let truth = run.truth;
        const verdicts: boolean[] = [];
        for (let n = 0; n < confirm + 3; n++) {
          run.minute++;
          truth += 1;
          const reading = eny(A, minuteTime(run.minute), { zygsz: truth });
          verdicts.push(
            checkAt(run.filter, reading, UTC.instantOf(minuteTime(run.minute))).publish,
          );
        }
        assert.deepEqual(verdicts.slice(confirm - 1), verdicts.slice(confirm - 1).map(() => true));
      },
    ),
    { numRuns: 500 },
  );
});
