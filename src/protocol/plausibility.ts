/**
 * Plausibility: what a meter can physically report. A value outside its
 * quantity's bounds, an energy register rising faster than the meter could
 * measure, or a meter time far ahead of the gateway clock (or before a floor)
 * is not a reading but a fault (a transmission error, a faulty meter, or
 * someone publishing with the shared meter password). Such a reading is
 * rejected before the filter and never enters its history: one absurd value
 * must not freeze a meter by becoming the level every real reading is
 * compared with.
 *
 * Bounds per quantity come from `meters.plausibility`; angles, percentages and
 * temperatures have fixed bounds that only catch absurd values.
 *
 * @module
 */
import { z } from "zod";
import { LAYOUTS, type LayoutTag, tagAt } from "./reading.ts";
import { isCumulative, type Unit } from "./tags.ts";
import type { ReadingLevel } from "./uplink.ts";

function atMost(max: number, what: string) {
  return z.number({ error: `must be a number (${what})` }).positive({
    error: "must be greater than 0",
  }).max(max, { error: `must be at most ${max}` });
}

/** The `meters.plausibility` section: bounds of what a meter can report. */
export const Plausibility = z.strictObject({
  /** Energy registers (kWh, kvarh, kVAh): 0 to this. */
  max_energy_kwh: atMost(1e15, "kWh").default(1_000_000_000),
  /**
   * Power of any kind (kW, kvar, kVA, demand): -this to this. Also the most a
   * meter can measure, which bounds how fast an energy register can rise.
   */
  max_power_kw: atMost(1e9, "kW").default(10_000),
  /** Voltages: 0 to this. */
  max_voltage_v: atMost(1e9, "V").default(1_000_000),
  /** Currents: -this to this. */
  max_current_a: atMost(1e9, "A").default(1_000_000),
  /** Frequency: 0 to this. */
  max_frequency_hz: atMost(1e6, "Hz").default(100),
  /** Power factors: -this to this (physically at most 1; meters round). */
  max_power_factor: atMost(1000, "power factor").default(1.05),
  /**
   * A meter time further ahead of the gateway clock than this (beyond the
   * meter's known drift) is rejected; its clock is set.
   */
  max_clock_ahead_seconds: z.number().int({ error: "must be a whole number of seconds" })
    .min(60, { error: "must be at least 60" }).max(31_536_000, {
      error: "must be at most 31536000 (a year)",
    }).default(86_400),
  /** A meter time before this year is rejected (factory clocks run in 2005). */
  earliest_year: z.number().int({ error: "must be a year" }).min(1970, {
    error: "must be at least 1970",
  }).max(2100, { error: "must be at most 2100" }).default(2000),
});
/** The `meters.plausibility` section. */
export type Plausibility = z.infer<typeof Plausibility>;

/** Why a reading is implausible; used as counter names beside the other rejections. */
export type ImplausibleCode = "implausible_value" | "implausible_rise" | "implausible_time";

/** An implausible reading: its code and a reason a user can act on. */
export interface Implausible {
  readonly code: ImplausibleCode;
  readonly reason: string;
}

/** Where an energy register stood: its values, the meter time and when it arrived. */
export interface RegisterPoint {
  /** The cumulative registers, in {@link CUMULATIVE_INDICES} order; NaN = no value. */
  readonly registers: readonly number[];
  /** The meter time as an instant, epoch ms. */
  readonly instant: number;
  /** When the reading arrived at the gateway, epoch ms; undefined when not known. */
  readonly at?: number;
}

/**
 * The allowed rise assumes the meter ran at `max_power_kw` for twice the
 * elapsed time: the longer of the meter's clock and the gateway's (clocks
 * jump when they are set, readings queued during an outage arrive in a
 * burst), and at least a few seconds (a reading sent again for the same time
 * with a newer value).
 */
const RISE_MARGIN = 2;
const MIN_RISE_SECONDS = 10;

/** Positions of the cumulative registers (energy units) in a level's values. */
export const CUMULATIVE_INDICES: Readonly<Record<ReadingLevel, readonly number[]>> = {
  seconds: cumulativeIndices("seconds"),
  minutes: cumulativeIndices("minutes"),
  day: cumulativeIndices("day"),
};

function cumulativeIndices(level: ReadingLevel): readonly number[] {
  return LAYOUTS[level].info.flatMap((info, i) => isCumulative(info) ? [i] : []);
}

/**
 * The tag of a level's cumulative register `r` ({@link CUMULATIVE_INDICES} order).
 *
 * @throws RangeError when the level has no such register
 */
export function registerTag(level: ReadingLevel, r: number): LayoutTag {
  const i = CUMULATIVE_INDICES[level][r];
  if (i === undefined) throw new RangeError(`${level} readings have no cumulative register ${r}`);
  return tagAt(level, i);
}

interface Bound {
  readonly min: number;
  readonly max: number;
  /** The `meters.plausibility` key that sets it, if any. */
  readonly key?: keyof Plausibility;
}

/** Fixed bounds of quantities without a key: only absurd values fall outside. */
const FIXED: Partial<Record<Unit, Bound>> = {
  "°": { min: -360, max: 360 },
  "%": { min: -10_000, max: 10_000 },
  "°C": { min: -273.15, max: 1000 },
};

function boundOf(unit: Unit | null, limits: Plausibility): Bound {
  const symmetric = (key: keyof Plausibility): Bound => ({
    min: -limits[key],
    max: limits[key],
    key,
  });
  const positive = (key: keyof Plausibility): Bound => ({ min: 0, max: limits[key], key });
  switch (unit) {
    case "kWh":
    case "kvarh":
    case "kVAh":
      return positive("max_energy_kwh");
    case "kW":
    case "kvar":
    case "kVA":
      return symmetric("max_power_kw");
    case "V":
      return positive("max_voltage_v");
    case "A":
      return symmetric("max_current_a");
    case "Hz":
      return positive("max_frequency_hz");
    case null:
      return symmetric("max_power_factor");
    default:
      return FIXED[unit]!;
  }
}

/** The time between two register points that bounds a rise, in hours. */
function riseHours(from: RegisterPoint, to: RegisterPoint): number | undefined {
  if (from.at === undefined || to.at === undefined) return undefined;
  const seconds = Math.max((to.instant - from.instant) / 1000, (to.at - from.at) / 1000);
  return Math.max(seconds, MIN_RISE_SECONDS) / 3600;
}

/** A duration for a log line: `45 s`, `3.5 h`, `73 years`. */
export function describeDuration(ms: number): string {
  const seconds = Math.abs(ms) / 1000;
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} h`;
  if (seconds < 63_072_000) return `${Math.round(seconds / 86_400)} days`;
  return `${Math.round(seconds / 31_557_600)} years`;
}

/** Checks readings against `meters.plausibility`. Pure, no state beyond its limits. */
export class PlausibilityCheck {
  readonly #bounds: Record<ReadingLevel, readonly Bound[]>;
  /** The start of `earliest_year`, epoch ms (UTC). */
  readonly #earliest: number;

  constructor(readonly limits: Plausibility) {
    const bounds = (level: ReadingLevel) => LAYOUTS[level].info.map((i) => boundOf(i.unit, limits));
    this.#bounds = { seconds: bounds("seconds"), minutes: bounds("minutes"), day: bounds("day") };
    this.#earliest = Date.UTC(limits.earliest_year, 0, 1);
  }

  /** The first value outside its quantity's bounds, if any. */
  values(level: ReadingLevel, values: readonly number[]): Implausible | undefined {
    const bounds = this.#bounds[level];
    for (let i = 0; i < values.length; i++) {
      const value = values[i]!;
      // One bound per tag of the layout the values follow.
      const bound = bounds[i];
      // NaN (no value) compares false: only present values are checked.
      if (bound === undefined || value >= bound.min && value <= bound.max || value !== value) {
        continue;
      }
      const { min, max, key } = bound;
      const { tag, info } = tagAt(level, i);
      const unit = info.unit === null ? "" : ` ${info.unit}`;
      const setting = key === undefined ? "" : ` (meters.plausibility.${key})`;
      return {
        code: "implausible_value",
        reason: `${info.name} (${tag}) ${value}${unit} is outside ${min} … ` +
          `${max}${unit}${setting}`,
      };
    }
    return undefined;
  }

  /**
   * Whether a meter time is plausible at gateway time `now` (epoch ms).
   * `knownDriftMs`: how far ahead the meter's clock ran at its last accepted
   * reading; a clock known to run ahead keeps working until it is set. It
   * counts up to the margin once: readings a margin ahead each cannot walk a
   * clock further and further into the future.
   */
  time(time: string, instant: number, now: number, knownDriftMs = 0): Implausible | undefined {
    const { earliest_year, max_clock_ahead_seconds } = this.limits;
    if (Number(time.slice(0, 4)) < earliest_year) {
      return {
        code: "implausible_time",
        reason: `time ${time} is before the year ${earliest_year} ` +
          "(meters.plausibility.earliest_year); the meter's clock is set",
      };
    }
    // A gateway that booted without a real-time clock runs in 1970 until NTP answers:
    // every reading would look ahead.
    if (now < this.#earliest) return undefined;
    const ahead = instant - now;
    const margin = max_clock_ahead_seconds * 1000;
    if (ahead - Math.min(Math.max(0, knownDriftMs), margin) <= margin) return undefined;
    return {
      code: "implausible_time",
      reason: `time ${time} is ${describeDuration(ahead)} ahead of the gateway clock ` +
        `(more than meters.plausibility.max_clock_ahead_seconds: ${max_clock_ahead_seconds}); ` +
        "the meter's clock is set",
    };
  }

  /**
   * The first cumulative register that rises from `from` to `to` by more
   * than `max_power_kw` could in the time between them, if any.
   */
  rise(level: ReadingLevel, from: RegisterPoint, to: RegisterPoint): string | undefined {
    const hours = riseHours(from, to);
    if (hours === undefined) return undefined;
    const allowed = this.limits.max_power_kw * hours * RISE_MARGIN;
    const indices = CUMULATIVE_INDICES[level];
    for (let r = 0; r < indices.length; r++) {
      // NaN (no value) on either side compares false: a register without value cannot jump.
      const before = from.registers[r] ?? NaN;
      const after = to.registers[r] ?? NaN;
      if (!(after - before > allowed)) continue;
      const { tag, info } = registerTag(level, r);
      return `${info.name} (${tag}) would rise from ` +
        `${before} to ${after} ${info.unit} within ` +
        `${describeDuration(hours * 3_600_000)}, more than ${this.limits.max_power_kw} kW ` +
        "(meters.plausibility.max_power_kw) could";
    }
    return undefined;
  }
}
