/**
 * Filters that turn real meter traffic into a clean series per meter.
 *
 * Real KPM33B traffic (see the protocol reference) has all-zero bursts
 * interleaved with real readings, sends each reading twice, sometimes with a
 * slightly newer value for the same `time`, and includes ids of meters that
 * only ever send zeros. Forwarded as-is, a zero burst makes an energy total
 * drop to 0 and jump back, which consumers read as a meter reset.
 *
 * Rules, per meter and level:
 * - excluded ids are dropped;
 * - an all-zero instantaneous reading is always a burst: a powered meter
 *   measures a voltage, so a genuine reading is never all zero;
 * - an all-zero energy reading is held back. It is published only for a meter
 *   that has proven it is real (a non-zero instantaneous reading) and has sent
 *   nothing but zero registers for `zeroConfirmReadings` distinct times: a new
 *   meter without consumption yet. Once a non-zero register was published,
 *   all-zero readings are bursts;
 * - an exact repeat (same time, same values) is dropped; the same time with
 *   changed values is forwarded, so the newest value wins;
 * - an energy register lower than the last published one is never published;
 * - a redelivered reading (the internal broker sends it again after the
 *   bridge restarted) that is not newer than the last published one was
 *   already forwarded and is dropped, so a restart cannot replay older
 *   readings after newer ones.
 *
 * The history of a meter can be exported and restored
 * ({@link ReadingFilter.exportMeter}), so these rules hold across restarts.
 * It is kept small, for fleets of 100,000 meters: per level the last time,
 * a digest of all values (for repeats) and the cumulative registers (for
 * regressions), not every value.
 *
 * @module
 */
import { z } from "zod";
import type { MeterId } from "./meter_id.ts";
import { digestNumbers } from "../runtime/hash.ts";
import { isAllZero, LAYOUTS, type Reading } from "./reading.ts";
import type { ReadingLevel } from "./uplink.ts";

/** Why a valid reading was not published. */
export type DropCode = "excluded" | "zero_burst" | "duplicate" | "energy_regression";

/** Filter settings. */
export interface FilterOptions {
  /** Meter ids whose readings are dropped. */
  readonly exclude: ReadonlySet<string>;
  /** Distinct all-zero readings that confirm a new meter's zero registers. */
  readonly zeroConfirmReadings: number;
  /** Most meters whose history is kept; the least recently active is forgotten. */
  readonly maxMeters: number;
}

/** The outcome for one reading. */
export type FilterVerdict =
  | { readonly publish: true; readonly zeroConfirmed: boolean }
  | { readonly publish: false; readonly code: DropCode; readonly reason: string };

interface LevelHistory {
  time: string;
  /** Digest of every value, to tell an exact repeat. */
  digest: number;
  /** The cumulative registers (CUMULATIVE order), to refuse one going backwards. */
  registers: readonly number[];
  /** Whether any published reading of this level had a non-zero value. */
  nonZero: boolean;
}

interface MeterHistory {
  /** A non-zero instantaneous reading proved a real, powered meter. */
  live: boolean;
  last: Partial<Record<ReadingLevel, LevelHistory>>;
  /** Distinct times of held-back all-zero readings, per level. */
  zeroTimes: Partial<Record<ReadingLevel, Set<string>>>;
}

const PUBLISH: FilterVerdict = { publish: true, zeroConfirmed: false };
const PUBLISH_CONFIRMED_ZERO: FilterVerdict = { publish: true, zeroConfirmed: true };

const ENERGY_UNIT = /h$/;

/** Positions of the cumulative registers (energy units) of a level. */
function cumulativeIndices(level: ReadingLevel): readonly number[] {
  const layout = LAYOUTS[level];
  return layout.tags.flatMap((_, i) => ENERGY_UNIT.test(layout.info[i].unit ?? "") ? [i] : []);
}

const CUMULATIVE: Readonly<Record<ReadingLevel, readonly number[]>> = {
  seconds: [],
  minutes: cumulativeIndices("minutes"),
  day: cumulativeIndices("day"),
};

/** JSON has no NaN (a register without value): it is stored as null. */
const StoredNumbers = z.array(z.number().nullable()).transform((values) =>
  values.map((v) => v ?? NaN)
);

const StoredLevel = z.union([
  z.object({
    time: z.string(),
    digest: z.number().int().nonnegative(),
    registers: StoredNumbers,
    nonZero: z.boolean(),
  }),
  // Written by earlier versions: every value.
  z.object({ time: z.string(), values: StoredNumbers, nonZero: z.boolean() }),
]);
const StoredHistory = z.object({
  live: z.boolean(),
  last: z.object({
    seconds: StoredLevel.optional(),
    minutes: StoredLevel.optional(),
    day: StoredLevel.optional(),
  }),
});

/** The cumulative registers of a reading's values, in {@link CUMULATIVE} order. */
function registersOf(level: ReadingLevel, values: readonly number[]): number[] {
  return CUMULATIVE[level].map((i) => values[i]);
}

function parseJson(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

function drop(code: DropCode, reason: string): FilterVerdict {
  return { publish: false, code, reason };
}

/** Decides per reading whether it is published. Pure state machine, no I/O. */
export class ReadingFilter {
  readonly #meters = new Map<MeterId, MeterHistory>();

  constructor(public options: FilterOptions) {}

  /** Applies new settings; the meters' history is kept. */
  reconfigure(options: FilterOptions): void {
    this.options = options;
  }

  /** Number of meters with history. */
  get meters(): number {
    return this.#meters.size;
  }

  /**
   * Checks a complete reading. A reading that passes is recorded as the
   * meter's latest published reading of its level. `redelivered`: the broker
   * marked the message as sent before (MQTT DUP flag).
   */
  check(reading: Reading, redelivered = false): FilterVerdict {
    const { id, level, time, values } = reading;
    if (this.options.exclude.has(id)) return drop("excluded", "meter is in meters.exclude");
    const meter = this.#history(id);
    const last = meter.last[level];
    const digest = digestNumbers(values);
    if (redelivered && last !== undefined && time <= last.time) {
      return drop(
        "duplicate",
        `redelivered reading at ${time}; ${last.time} was already forwarded`,
      );
    }

    if (isAllZero(values)) {
      const verdict = this.#checkZero(meter, level, time, last);
      if (!verdict.publish) return verdict;
      if (last !== undefined && last.time === time && last.digest === digest) {
        return drop("duplicate", `repeat of the reading at ${time}`);
      }
      meter.last[level] = { time, digest, registers: registersOf(level, values), nonZero: false };
      return verdict;
    }

    const registers = registersOf(level, values);
    if (last !== undefined) {
      if (last.time === time && last.digest === digest) {
        return drop("duplicate", `repeat of the reading at ${time}`);
      }
      const regression = this.#regression(level, last.registers, registers);
      if (regression !== undefined) return drop("energy_regression", regression);
    }
    if (level === "seconds") meter.live = true;
    meter.zeroTimes[level] = undefined;
    meter.last[level] = { time, digest, registers, nonZero: true };
    return PUBLISH;
  }

  /** The meter's history as JSON, for {@link ReadingFilter.restoreMeter}; undefined if none. */
  exportMeter(id: MeterId): string | undefined {
    const meter = this.#meters.get(id);
    if (meter === undefined) return undefined;
    return JSON.stringify({ live: meter.live, last: meter.last });
  }

  /**
   * Restores a history exported by {@link ReadingFilter.exportMeter}. Unreadable
   * JSON is ignored: the meter then starts without history, as a new one.
   */
  restoreMeter(id: MeterId, json: string): void {
    const parsed = StoredHistory.safeParse(parseJson(json));
    if (!parsed.success) return;
    const meter = this.#history(id);
    meter.live = parsed.data.live;
    for (const level of ["seconds", "minutes", "day"] as const) {
      const last = parsed.data.last[level];
      if (last === undefined) continue;
      meter.last[level] = "values" in last
        ? {
          time: last.time,
          digest: digestNumbers(last.values),
          registers: registersOf(level, last.values),
          nonZero: last.nonZero,
        }
        : last;
    }
  }

  #checkZero(
    meter: MeterHistory,
    level: ReadingLevel,
    time: string,
    last: LevelHistory | undefined,
  ): FilterVerdict {
    if (level === "seconds") {
      return drop("zero_burst", "all values are 0 (a powered meter measures a voltage)");
    }
    if (last?.nonZero) return drop("zero_burst", "all registers are 0 after non-zero readings");
    if (last !== undefined) return PUBLISH; // zero registers already confirmed
    if (!meter.live) {
      return drop("zero_burst", "all registers are 0 and the meter has sent no real reading yet");
    }
    const times = meter.zeroTimes[level] ??= new Set();
    times.add(time);
    if (times.size < this.options.zeroConfirmReadings) {
      return drop(
        "zero_burst",
        `all registers are 0 (${times.size} of ${this.options.zeroConfirmReadings} readings to confirm a new meter)`,
      );
    }
    meter.zeroTimes[level] = undefined;
    return PUBLISH_CONFIRMED_ZERO;
  }

  #regression(
    level: ReadingLevel,
    last: readonly number[],
    next: readonly number[],
  ): string | undefined {
    const indices = CUMULATIVE[level];
    for (let r = 0; r < indices.length; r++) {
      // A comparison with NaN (no value) is false: only two values can regress.
      if (next[r] < last[r]) {
        return `register ${LAYOUTS[level].tags[indices[r]]} would go backwards from ${last[r]} to ${
          next[r]
        }`;
      }
    }
    return undefined;
  }

  #history(id: MeterId): MeterHistory {
    let meter = this.#meters.get(id);
    if (meter !== undefined) {
      // Re-insert so the map's order is least recently active first.
      this.#meters.delete(id);
      this.#meters.set(id, meter);
      return meter;
    }
    meter = { live: false, last: {}, zeroTimes: {} };
    this.#meters.set(id, meter);
    if (this.#meters.size > this.options.maxMeters) {
      const oldest = this.#meters.keys().next().value;
      if (oldest !== undefined) this.#meters.delete(oldest);
    }
    return meter;
  }
}
