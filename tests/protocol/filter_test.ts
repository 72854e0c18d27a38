import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeReading } from "../../src/protocol/decode.ts";
import {
  type FilterOptions,
  type FilterVerdict,
  ReadingFilter,
} from "../../src/protocol/filter.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";
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

const OPTIONS: FilterOptions = { exclude: new Set(), zeroConfirmReadings: 3, maxMeters: 1000 };
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
    assert.deepEqual(filter.check(rt(id, time(0))), PUBLISH);
  }
  return filter;
}

Deno.test("excluded ids are dropped and not tracked", () => {
  const filter = new ReadingFilter({ ...OPTIONS, exclude: new Set([A]) });
  assertDropped(filter.check(rt(A, time(0))), "excluded", "meter is in meters.exclude");
  assertDropped(filter.check(eny(A, time(0))), "excluded");
  assertDropped(filter.check(zeroEny(A, time(0))), "excluded");
  assert.equal(filter.meters, 0);
  assert.deepEqual(filter.check(rt(B, time(0))), PUBLISH);
  assert.equal(filter.meters, 1);
});

Deno.test("real readings are published", () => {
  const filter = new ReadingFilter(OPTIONS);
  assert.deepEqual(filter.check(rt(A, time(0))), PUBLISH);
  assert.deepEqual(filter.check(eny(A, time(0))), PUBLISH);
  assert.deepEqual(filter.check(rt(A, time(1), { ...RT_TAGS, zyggl: 7 })), PUBLISH);
  assert.equal(filter.meters, 1);
});

Deno.test("an all-zero seconds reading is always a zero burst", () => {
  const filter = new ReadingFilter(OPTIONS);
  const reason = "all values are 0 (a powered meter measures a voltage)";
  assertDropped(filter.check(zeroRt(A, time(0))), "zero_burst", reason); // new meter
  assert.deepEqual(filter.check(rt(A, time(1))), PUBLISH);
  for (let n = 2; n < 10; n++) {
    assertDropped(filter.check(zeroRt(A, time(n))), "zero_burst", reason);
  }
  // Missing tags do not make a zero reading real.
  assertDropped(filter.check(rt(A, time(20), { ua: 0, zyggl: 0 })), "zero_burst", reason);
  assertDropped(filter.check(rt(A, time(21), { ua: -0 })), "zero_burst", reason);
  // One non-zero value is enough to be real.
  assert.deepEqual(filter.check(rt(A, time(22), { ...zeros(RT_TAGS), f: 49.9 })), PUBLISH);
});

Deno.test("an exact repeat is a duplicate; the same time with changed values is forwarded", () => {
  const filter = liveFilter();
  const first = eny(A, time(1), { ...ENY_TAGS, zygsz: 117.779 });
  assert.deepEqual(filter.check(first), PUBLISH);
  assertDropped(
    filter.check(eny(A, time(1), { ...ENY_TAGS, zygsz: 117.779 })),
    "duplicate",
    `repeat of the reading at ${time(1)}`,
  );
  assert.deepEqual(filter.check(eny(A, time(1), { ...ENY_TAGS, zygsz: 117.783 })), PUBLISH);
  assertDropped(filter.check(eny(A, time(1), { ...ENY_TAGS, zygsz: 117.783 })), "duplicate");
  // Seconds level too.
  assertDropped(filter.check(rt(A, time(0))), "duplicate", `repeat of the reading at ${time(0)}`);
  assert.deepEqual(filter.check(rt(A, time(0), { ...RT_TAGS, zyggl: 6.7 })), PUBLISH);
  // Missing versus present is a change; missing versus missing is the same.
  const { zyggl: _, ...withoutPower } = RT_TAGS;
  assert.deepEqual(filter.check(rt(A, time(0), withoutPower)), PUBLISH);
  assertDropped(filter.check(rt(A, time(0), withoutPower)), "duplicate");
});

Deno.test("the same values at a new time are not duplicates", () => {
  const filter = liveFilter();
  assert.deepEqual(filter.check(eny(A, time(1))), PUBLISH);
  assert.deepEqual(filter.check(eny(A, time(2))), PUBLISH);
  assert.deepEqual(filter.check(rt(A, time(1))), PUBLISH);
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
    assert.deepEqual(filter.check(eny(A, time(1), base)), PUBLISH);
    assertDropped(
      filter.check(eny(A, time(2), { ...base, [tag]: 99.999 })),
      "energy_regression",
      `register ${tag} would go backwards from 100 to 99.999`,
    );
    // Also for a second copy with the same time.
    assertDropped(filter.check(eny(A, time(1), { ...base, [tag]: 99 })), "energy_regression");
    // The regressed value was not recorded: the original value still counts.
    assertDropped(filter.check(eny(A, time(3), { ...base, [tag]: 99.9999 })), "energy_regression");
    assert.deepEqual(filter.check(eny(A, time(3), { ...base, [tag]: 100 })), PUBLISH);
    assert.deepEqual(filter.check(eny(A, time(4), { ...base, [tag]: 100.001 })), PUBLISH);
  }
});

Deno.test("non-cumulative minutes values (harmonics, max demand) may go down", () => {
  const filter = liveFilter();
  assert.equal(CUMULATIVE_ENERGY_TAGS.has("dmpmax"), false);
  assert.equal(CUMULATIVE_ENERGY_TAGS.has("uathd"), false);
  assert.deepEqual(filter.check(eny(A, time(1), { ...ENY_TAGS, dmpmax: 10, uathd: 3 })), PUBLISH);
  assert.deepEqual(filter.check(eny(A, time(2), { ...ENY_TAGS, dmpmax: 5, uathd: 1 })), PUBLISH);
});

Deno.test("instantaneous values may go down", () => {
  const filter = liveFilter();
  assert.deepEqual(filter.check(rt(A, time(1), { ...RT_TAGS, zyggl: 1 })), PUBLISH);
  assert.deepEqual(filter.check(rt(A, time(2), { ...RT_TAGS, zyggl: -5 })), PUBLISH);
});

Deno.test("day registers going backwards are energy_regression", () => {
  const filter = liveFilter();
  assert.deepEqual(filter.check(reading("day", A, "20260117000000", { zygdd: 160 })), PUBLISH);
  assertDropped(
    filter.check(reading("day", A, "20260118000000", { zygdd: 150 })),
    "energy_regression",
    "register zygdd would go backwards from 160 to 150",
  );
  assert.deepEqual(filter.check(reading("day", A, "20260118000000", { zygdd: 170 })), PUBLISH);
});

Deno.test("a zero ENY burst between real readings is dropped", () => {
  const filter = liveFilter();
  assert.deepEqual(filter.check(eny(A, time(1))), PUBLISH);
  assertDropped(
    filter.check(zeroEny(A, time(1))),
    "zero_burst",
    "all registers are 0 after non-zero readings",
  );
  assertDropped(filter.check(zeroEny(A, time(2))), "zero_burst");
  assert.deepEqual(filter.check(eny(A, time(2), { ...ENY_TAGS, zygsz: 163.5 })), PUBLISH);
  // A reading that merely lacks some tags and is 0 elsewhere is still a burst.
  assertDropped(filter.check(eny(A, time(3), { zygsz: 0 })), "zero_burst");
});

Deno.test("after a non-zero energy reading, zero readings are bursts forever", () => {
  const filter = liveFilter({ zeroConfirmReadings: 2 });
  assert.deepEqual(filter.check(eny(A, time(1))), PUBLISH);
  for (let n = 2; n < 60; n++) {
    assertDropped(
      filter.check(zeroEny(A, time(n))),
      "zero_burst",
      "all registers are 0 after non-zero readings",
    );
    assert.deepEqual(filter.check(rt(A, time(n), { ...RT_TAGS, zyggl: n })), PUBLISH);
  }
});

Deno.test("a new meter: zero registers are held until it is live and confirmed, then published", () => {
  const filter = new ReadingFilter(OPTIONS); // zeroConfirmReadings: 3
  assertDropped(
    filter.check(zeroEny(A, time(1))),
    "zero_burst",
    "all registers are 0 and the meter has sent no real reading yet",
  );
  assert.deepEqual(filter.check(rt(A, time(1))), PUBLISH); // now live
  assertDropped(
    filter.check(zeroEny(A, time(1))),
    "zero_burst",
    "all registers are 0 (1 of 3 readings to confirm a new meter)",
  );
  // The same time again does not count twice.
  assertDropped(
    filter.check(zeroEny(A, time(1))),
    "zero_burst",
    "all registers are 0 (1 of 3 readings to confirm a new meter)",
  );
  assertDropped(
    filter.check(zeroEny(A, time(2))),
    "zero_burst",
    "all registers are 0 (2 of 3 readings to confirm a new meter)",
  );
  assert.deepEqual(filter.check(zeroEny(A, time(3))), PUBLISH_CONFIRMED);
  // Later zero readings are published too (no longer marked as the confirmation).
  assert.deepEqual(filter.check(zeroEny(A, time(4))), PUBLISH);
  assertDropped(filter.check(zeroEny(A, time(4))), "duplicate");
  assert.deepEqual(filter.check(zeroEny(A, time(5))), PUBLISH);
  // First consumption: published, and zeros are bursts from then on.
  assert.deepEqual(filter.check(eny(A, time(6), { ...zeros(ENY_TAGS), zygsz: 0.001 })), PUBLISH);
  assertDropped(filter.check(zeroEny(A, time(7))), "zero_burst");
});

Deno.test("zeroConfirmReadings 1 publishes the first zero reading of a live meter", () => {
  const filter = liveFilter({ zeroConfirmReadings: 1 });
  assert.deepEqual(filter.check(zeroEny(A, time(1))), PUBLISH_CONFIRMED);
});

Deno.test("a non-zero energy reading resets the zero confirmation count", () => {
  const filter = liveFilter();
  assertDropped(filter.check(zeroEny(A, time(1))), "zero_burst", /1 of 3/);
  assertDropped(filter.check(zeroEny(A, time(2))), "zero_burst", /2 of 3/);
  assert.deepEqual(filter.check(eny(A, time(3))), PUBLISH);
  assertDropped(
    filter.check(zeroEny(A, time(4))),
    "zero_burst",
    "all registers are 0 after non-zero readings",
  );
});

Deno.test("a meter that only ever sends zeros is never published", () => {
  const filter = new ReadingFilter(OPTIONS);
  for (let n = 0; n < 200; n++) {
    const rtVerdict = filter.check(zeroRt(C, time(n)));
    assertDropped(rtVerdict, "zero_burst");
    const enyVerdict = filter.check(zeroEny(C, time(n)));
    assertDropped(
      enyVerdict,
      "zero_burst",
      "all registers are 0 and the meter has sent no real reading yet",
    );
  }
});

Deno.test("zero confirmation is per meter and per level", () => {
  const filter = liveFilter({}, A, B);
  assertDropped(filter.check(zeroEny(A, time(1))), "zero_burst", /1 of 3/);
  assertDropped(filter.check(zeroEny(B, time(1))), "zero_burst", /1 of 3/);
  assertDropped(filter.check(reading("day", A, time(1), { zygdd: 0 })), "zero_burst", /1 of 3/);
  assertDropped(filter.check(zeroEny(A, time(2))), "zero_burst", /2 of 3/);
  assert.deepEqual(filter.check(zeroEny(A, time(3))), PUBLISH_CONFIRMED);
  assertDropped(filter.check(zeroEny(B, time(2))), "zero_burst", /2 of 3/);
});

Deno.test("maxMeters forgets the least recently active meter", () => {
  const filter = new ReadingFilter({ ...OPTIONS, maxMeters: 2 });
  assert.deepEqual(filter.check(eny(A, time(1), { zygsz: 100 })), PUBLISH);
  assert.deepEqual(filter.check(eny(B, time(1), { zygsz: 100 })), PUBLISH);
  assert.equal(filter.meters, 2);
  // A is active again, so B is the least recently active when C arrives.
  assertDropped(filter.check(eny(A, time(2), { zygsz: 50 })), "energy_regression");
  assert.deepEqual(filter.check(eny(C, time(1), { zygsz: 100 })), PUBLISH);
  assert.equal(filter.meters, 2);
  // B was forgotten: its lower register is no longer a regression.
  assert.deepEqual(filter.check(eny(B, time(2), { zygsz: 50 })), PUBLISH);
  assert.equal(filter.meters, 2);
  // That evicted A (least recently active): A's history is gone, C's is kept.
  assert.deepEqual(filter.check(eny(A, time(3), { zygsz: 50 })), PUBLISH);
  assertDropped(filter.check(eny(B, time(3), { zygsz: 40 })), "energy_regression");
});

Deno.test("maxMeters: a forgotten meter must prove it is live again", () => {
  const filter = new ReadingFilter({ ...OPTIONS, maxMeters: 1, zeroConfirmReadings: 1 });
  assert.deepEqual(filter.check(rt(A, time(0))), PUBLISH);
  assert.deepEqual(filter.check(rt(B, time(0))), PUBLISH); // evicts A
  assert.equal(filter.meters, 1);
  assertDropped(filter.check(zeroEny(A, time(1))), "zero_burst", /no real reading yet/);
});

Deno.test("replay of the ENY capture publishes only the real readings", () => {
  const lines = Deno.readTextFileSync(new URL("MQTT_ENY_NOW_capture_short.jsonl", FIXTURES))
    .split("\n").filter((l) => l.trim());
  const filter = new ReadingFilter(OPTIONS);
  // Meters 027, 028 and 029 are live; 030 never sends a real reading.
  for (const id of ["33B1225950027", "33B1225950028", "33B1225950029"]) {
    assert.deepEqual(filter.check(rt(MeterId.parse(id), "20260117211400")), PUBLISH);
  }
  const verdicts = lines.map((line) => {
    const r = decodeReading("MQTT_ENY_NOW", new TextEncoder().encode(line), 65536);
    assert.equal("ok" in r, false);
    const v = filter.check(r as Reading);
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
      const filter = liveFilter({ zeroConfirmReadings: 2 });
      const last = new Map<string, number>();
      for (const s of steps) {
        const tags = Object.fromEntries(registers.map((tag, i) => [tag, s.zero ? 0 : s.values[i]]));
        const verdict = filter.check(eny(A, time(s.time), tags));
        if (!verdict.publish) continue;
        for (const tag of registers) {
          assert.ok(
            tags[tag] >= (last.get(tag) ?? 0),
            `${tag} went from ${last.get(tag)} to ${tags[tag]}`,
          );
          last.set(tag, tags[tag]);
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
  const more = { ...ENY_TAGS, zygsz: ENY_TAGS.zygsz + 1 };
  assert.deepEqual(filter.check(eny(A, time(1))), PUBLISH);
  assert.deepEqual(filter.check(eny(A, time(2), more)), PUBLISH);
  assertDropped(
    filter.check(eny(A, time(1)), true),
    "duplicate",
    `redelivered reading at ${time(1)}; ${time(2)} was already forwarded`,
  );
  assertDropped(filter.check(eny(A, time(2), more), true), "duplicate");
  // Without the DUP flag the older time is not judged by time (a clock may have been set back) …
  const same = filter.check(eny(A, time(1), more));
  assert.deepEqual(same, PUBLISH);
  // … and a redelivered reading newer than the last one is new to the bridge.
  assert.deepEqual(filter.check(eny(A, time(3), more), true), PUBLISH);
});

Deno.test("a meter's history survives export and restore, registers without a value included", () => {
  const filter = liveFilter();
  const withGap = { ...ENY_TAGS, zygsz: 100 };
  const published = eny(A, time(1), withGap);
  assert.ok(published.values.some(Number.isNaN), "the fixture leaves some registers without value");
  assert.deepEqual(filter.check(published), PUBLISH);
  const exported = filter.exportMeter(A);
  assert.ok(exported !== undefined);
  assert.equal(filter.exportMeter(B), undefined);

  const restored = new ReadingFilter(OPTIONS);
  restored.restoreMeter(A, exported);
  assert.equal(restored.exportMeter(A), exported);
  assertDropped(restored.check(eny(A, time(2), { ...withGap, zygsz: 99 })), "energy_regression");
  assertDropped(restored.check(published, true), "duplicate");
  // Live: a zero energy reading after real ones is a burst, as before the restart.
  assertDropped(restored.check(zeroEny(A, time(3))), "zero_burst");

  restored.restoreMeter(B, "{not json");
  restored.restoreMeter(C, JSON.stringify({ live: "yes" }));
  assert.equal(restored.exportMeter(B), undefined);
  assert.equal(restored.exportMeter(C), undefined);
});

Deno.test("a history stored by earlier versions (every value) restores and still guards", () => {
  const filter = liveFilter();
  const published = eny(A, time(1), { ...ENY_TAGS, zygsz: 100 });
  filter.check(published);
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
  assertDropped(restored.check(eny(A, time(2), { ...ENY_TAGS, zygsz: 99 })), "energy_regression");
  assertDropped(restored.check(published), "duplicate");
  assert.deepEqual(restored.check(eny(A, time(2), { ...ENY_TAGS, zygsz: 101 })), PUBLISH);
});

Deno.test("the stored history of a meter stays small: no values beyond the registers", () => {
  const filter = liveFilter();
  filter.check(eny(A, time(1), { ...ENY_TAGS, zygsz: 100 }));
  const stored = JSON.parse(filter.exportMeter(A)!);
  assert.ok(!("values" in stored.last.minutes));
  assert.ok(JSON.stringify(stored).length < 300, JSON.stringify(stored));
});
