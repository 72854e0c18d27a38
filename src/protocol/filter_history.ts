/**
 * The stored form of a meter's filter history, so the reading filter's rules
 * hold across restarts.
 *
 * It is kept small, for fleets of 100,000 meters: per level the last time, a
 * digest of all values (for repeats) and the cumulative registers (for
 * regressions), not every value. Forms written by earlier versions (every
 * value) are still read.
 *
 * @module
 */
import { z } from "zod";
import { digestNumbers } from "../runtime/hash.ts";
import { CUMULATIVE_INDICES, type RegisterPoint } from "./plausibility.ts";
import type { Carried } from "./register_reset.ts";
import type { ReadingLevel } from "./uplink.ts";

/** The latest published reading of one level of a meter, as the filter compares the next with. */
export interface LevelHistory extends RegisterPoint, Carried {
  time: string;
  /** Digest of every value, to tell an exact repeat. */
  digest: number;
  /** Whether any published reading of this level had a non-zero value. */
  nonZero: boolean;
}

/** What is stored of a meter's history. */
export interface StoredMeter {
  /** A non-zero instantaneous reading proved a real, powered meter. */
  live: boolean;
  /** The latest published reading per level. */
  last: Partial<Record<ReadingLevel, LevelHistory>>;
}

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
    // Written since plausibility checks: arrival (epoch ms) and meter clock minus arrival.
    at: z.number().optional(),
    drift: z.number().optional(),
    carried: z.number().int().nonnegative().optional(),
    carried_from: z.object({ at: z.number(), drift: z.number() }).optional(),
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

/** The cumulative registers of a reading's values, in {@link CUMULATIVE_INDICES} order. */
export function registersOf(level: ReadingLevel, values: readonly number[]): number[] {
  return CUMULATIVE_INDICES[level].map((i) => values[i] ?? NaN);
}

/** A meter's history as JSON, for {@link parseHistory}. */
export function serializeHistory(meter: StoredMeter): string {
  const last: Record<string, unknown> = {};
  for (const [level, history] of Object.entries(meter.last)) {
    const { time, digest, registers, carried, carriedFrom, nonZero } = history;
    last[level] = {
      time,
      digest,
      registers,
      nonZero,
      ...arrival(history),
      ...(carried === 0 ? {} : { carried, carried_from: arrival(carriedFrom) }),
    };
  }
  return JSON.stringify({ live: meter.live, last });
}

/**
 * A history written by {@link serializeHistory} (or an earlier version);
 * undefined when the JSON is unreadable.
 */
export function parseHistory(json: string): StoredMeter | undefined {
  const parsed = StoredHistory.safeParse(parseJson(json));
  if (!parsed.success) return undefined;
  const meter: StoredMeter = { live: parsed.data.live, last: {} };
  for (const level of ["seconds", "minutes", "day"] as const) {
    const last = parsed.data.last[level];
    if (last === undefined) continue;
    meter.last[level] = "values" in last
      ? {
        time: last.time,
        digest: digestNumbers(last.values),
        registers: registersOf(level, last.values),
        carried: 0,
        nonZero: last.nonZero,
        instant: NaN,
      }
      : {
        time: last.time,
        digest: last.digest,
        registers: last.registers,
        carried: last.carried ?? 0,
        ...(last.carried_from === undefined ? {} : {
          carriedFrom: {
            at: last.carried_from.at,
            instant: last.carried_from.at + last.carried_from.drift,
          },
        }),
        nonZero: last.nonZero,
        ...(last.at === undefined || last.drift === undefined
          ? { instant: NaN }
          : { at: last.at, instant: last.at + last.drift }),
      };
  }
  return meter;
}

function parseJson(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

/** When a point arrived and its meter's clock drift, as stored; nothing when not known. */
function arrival(point: Pick<RegisterPoint, "instant" | "at"> | undefined) {
  const { at, instant } = point ?? {};
  return at === undefined || instant === undefined || instant !== instant
    ? {}
    : { at, drift: instant - at };
}
