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
 * - a register going backwards, or rising faster than the meter could
 *   measure, is not published — unless it is a register reset: the following
 *   readings continue consistently from the new value, `resetConfirmReadings`
 *   in all (a cleared counter, a replacement meter under the same id). A
 *   single odd reading among consistent ones stays dropped;
 * - a replayed reading (sent again by the internal broker after the bridge
 *   restarted, or a retained one handed over at subscribe) that is not newer
 *   than the last published one was already forwarded and is dropped, so a
 *   restart cannot replay older readings after newer ones.
 *
 * Before all this a reading must be plausible ({@link PlausibilityCheck}):
 * an implausible one is rejected and never becomes the history later
 * readings are compared with.
 *
 * The history of a meter can be exported and restored
 * ({@link ReadingFilter.exportMeter}), so these rules hold across restarts;
 * its stored form is in filter_history.ts, the register-reset helpers in
 * register_reset.ts.
 *
 * @module
 */
import type { MeterId } from "./meter_id.ts";
import { digestNumbers } from "../runtime/hash.ts";
import {
  type LevelHistory,
  parseHistory,
  registersOf,
  serializeHistory,
} from "./filter_history.ts";
import {
  CUMULATIVE_INDICES,
  type Implausible,
  type ImplausibleCode,
  type Plausibility,
  PlausibilityCheck,
  type RegisterPoint,
  registerTag,
} from "./plausibility.ts";
import { isAllZero, type Reading } from "./reading.ts";
import {
  type Carried,
  carryForward,
  only,
  type RegisterReset,
  type ResetCandidate,
  resetOf,
  type ResetPoint,
} from "./register_reset.ts";
import type { ReadingLevel } from "./uplink.ts";

export type { RegisterReset } from "./register_reset.ts";

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
  /** Consistent readings after a register went backwards (or jumped) that accept it as a reset. */
  readonly resetConfirmReadings: number;
  /** What a meter can report (`meters.plausibility`). */
  readonly plausibility: Plausibility;
}

/** How a reading reached the bridge. */
export interface Arrival {
  /** Gateway time of arrival, epoch ms. */
  readonly now: number;
  /** The reading's meter time as an instant, epoch ms (in `meters.timezone`). */
  readonly instant: number;
  /**
   * Sent before: `redelivered` (MQTT DUP flag, after a restart) or `retained`
   * (a retained message the broker hands over at subscribe).
   */
  readonly replayed?: "redelivered" | "retained";
}

/** The outcome for one reading. */
export type FilterVerdict =
  | {
    readonly publish: true;
    readonly zeroConfirmed: boolean;
    /** Set when this reading confirms a register reset. */
    readonly reset?: RegisterReset;
  }
  | {
    readonly publish: false;
    readonly code: DropCode | ImplausibleCode;
    readonly reason: string;
  };

interface MeterHistory {
  /** A non-zero instantaneous reading proved a real, powered meter. */
  live: boolean;
  last: Partial<Record<ReadingLevel, LevelHistory>>;
  /** Distinct times of held-back all-zero readings, per level. */
  zeroTimes: Partial<Record<ReadingLevel, Set<string>>>;
  /** A possible register reset, per level (not stored: a restart counts anew). */
  candidates: Partial<Record<ReadingLevel, ResetCandidate>>;
}

const PUBLISH: FilterVerdict = { publish: true, zeroConfirmed: false };
const PUBLISH_CONFIRMED_ZERO: FilterVerdict = { publish: true, zeroConfirmed: true };

function drop(code: DropCode | ImplausibleCode, reason: string): FilterVerdict {
  return { publish: false, code, reason };
}

/** Decides per reading whether it is published. Pure state machine, no I/O. */
export class ReadingFilter {
  readonly #meters = new Map<MeterId, MeterHistory>();
  #options!: FilterOptions;
  #plausibility!: PlausibilityCheck;

  constructor(options: FilterOptions) {
    this.reconfigure(options);
  }

  /** Applies new settings; the meters' history is kept. */
  reconfigure(options: FilterOptions): void {
    this.#options = options;
    this.#plausibility = new PlausibilityCheck(options.plausibility);
  }

  /** Number of meters with history. */
  get meters(): number {
    return this.#meters.size;
  }

  /**
   * Checks a complete reading. A reading that passes is recorded as the
   * meter's latest published reading of its level.
   */
  check(reading: Reading, arrival: Arrival): FilterVerdict {
    const { id, level, time, values } = reading;
    if (this.#options.exclude.has(id)) return drop("excluded", "meter is in meters.exclude");
    const implausible = this.#implausible(reading, arrival);
    if (implausible !== undefined) return drop(implausible.code, implausible.reason);
    const meter = this.#history(id);
    const last = meter.last[level];
    const digest = digestNumbers(values);
    const point = { time, digest, instant: arrival.instant, at: arrival.now };
    if (arrival.replayed !== undefined && last !== undefined && time <= last.time) {
      return drop(
        "duplicate",
        `${arrival.replayed} reading at ${time}; ${last.time} was already forwarded`,
      );
    }

    if (isAllZero(values)) {
      const verdict = this.#checkZero(meter, level, time, last);
      if (!verdict.publish) return verdict;
      if (last !== undefined && last.time === time && last.digest === digest) {
        return drop("duplicate", `repeat of the reading at ${time}`);
      }
      meter.last[level] = {
        ...point,
        registers: registersOf(level, values),
        carried: 0,
        nonZero: false,
      };
      return verdict;
    }

    const next = { ...point, registers: registersOf(level, values) };
    let reset: RegisterReset | undefined;
    let carried: Carried = { registers: next.registers, carried: 0 };
    if (last !== undefined) {
      if (last.time === time && last.digest === digest) {
        return drop("duplicate", `repeat of the reading at ${time}`);
      }
      const discontinuity = this.#discontinuity(level, last, next);
      if (discontinuity !== undefined) {
        const N = this.#options.resetConfirmReadings;
        // A reading older than the last published one is a late copy, not a sign of a reset.
        if (time <= last.time) {
          return drop(
            discontinuity.code,
            `${discontinuity.reason} (a reading older than the last published one, at ` +
              `${last.time}: not counted towards a register reset)`,
          );
        }
        const count = this.#countReset(meter, level, next);
        if (count < N) {
          return drop(
            discontinuity.code,
            `${discontinuity.reason} (${count} of ${N} consistent readings accept it as a ` +
              "register reset)",
          );
        }
        reset = resetOf(level, last.registers, next.registers);
      } else {
        carried = carryForward(last, next.registers);
      }
    }
    meter.candidates[level] = undefined;
    if (level === "seconds") meter.live = true;
    meter.zeroTimes[level] = undefined;
    meter.last[level] = { ...next, ...carried, nonZero: true };
    return reset === undefined ? PUBLISH : { publish: true, zeroConfirmed: false, reset };
  }

  /** Whether the meter has a history (a reading seen, or restored from an earlier run). */
  has(id: MeterId): boolean {
    return this.#meters.has(id);
  }

  /** Forgets a meter's history on purpose (a meter replaced under the same id). */
  forget(id: MeterId): boolean {
    return this.#meters.delete(id);
  }

  /** The meter's history as JSON, for {@link ReadingFilter.restoreMeter}; undefined if none. */
  exportMeter(id: MeterId): string | undefined {
    const meter = this.#meters.get(id);
    if (meter === undefined) return undefined;
    return serializeHistory(meter);
  }

  /**
   * Restores a history exported by {@link ReadingFilter.exportMeter}. Unreadable
   * JSON is ignored: the meter then starts without history, as a new one.
   */
  restoreMeter(id: MeterId, json: string): void {
    const stored = parseHistory(json);
    if (stored === undefined) return;
    const meter = this.#history(id);
    meter.live = stored.live;
    for (const level of ["seconds", "minutes", "day"] as const) {
      const last = stored.last[level];
      if (last !== undefined) meter.last[level] = last;
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
    if (times.size < this.#options.zeroConfirmReadings) {
      return drop(
        "zero_burst",
        `all registers are 0 (${times.size} of ${this.#options.zeroConfirmReadings} readings to confirm a new meter)`,
      );
    }
    meter.zeroTimes[level] = undefined;
    return PUBLISH_CONFIRMED_ZERO;
  }

  /**
   * Plausibility of the values and the time. A clock known to run ahead (its
   * last accepted reading was ahead) is judged from there.
   */
  #implausible(reading: Reading, arrival: Arrival): Implausible | undefined {
    const { id, level, time, values } = reading;
    const known = this.#meters.get(id)?.last[level];
    const drift = known?.at === undefined ? 0 : known.instant - known.at;
    return this.#plausibility.values(level, values) ??
      this.#plausibility.time(time, arrival.instant, arrival.now, drift || 0);
  }

  /**
   * Why `next` does not continue from `from`: a register going backwards, or
   * rising too fast. A value `from` carried over from an earlier reading
   * rises from where it stood then.
   */
  #discontinuity(
    level: ReadingLevel,
    from: RegisterPoint & Partial<Carried>,
    next: RegisterPoint,
  ): { readonly code: DropCode | ImplausibleCode; readonly reason: string } | undefined {
    const indices = CUMULATIVE_INDICES[level];
    for (let r = 0; r < indices.length; r++) {
      const before = from.registers[r] ?? NaN;
      const after = next.registers[r] ?? NaN;
      // A comparison with NaN (no value) is false: only two values can regress.
      if (after < before) {
        const { tag } = registerTag(level, r);
        return {
          code: "energy_regression",
          reason: `register ${tag} would go backwards from ${before} to ${after}`,
        };
      }
    }
    const carried = from.carried ?? 0;
    const rise = carried === 0 ? this.#plausibility.rise(level, from, next) : (
      this.#plausibility.rise(
        level,
        { ...from, registers: only(from.registers, ~carried) },
        next,
      ) ??
        this.#plausibility.rise(
          level,
          { instant: NaN, ...from.carriedFrom, registers: only(from.registers, carried) },
          next,
        )
    );
    return rise === undefined ? undefined : { code: "implausible_rise", reason: rise };
  }

  /**
   * Counts a reading that does not continue the history towards a register
   * reset: it continues the current candidate (later, consistent with it) or
   * starts a new one. Returns the candidate's count.
   */
  #countReset(meter: MeterHistory, level: ReadingLevel, next: ResetPoint): number {
    const candidate = meter.candidates[level];
    if (candidate !== undefined) {
      // The same reading again (meters send each one twice) neither counts nor restarts.
      if (next.time === candidate.time) return candidate.count;
      if (next.time > candidate.time && this.#discontinuity(level, candidate, next) === undefined) {
        const count = candidate.count + 1;
        meter.candidates[level] = { ...next, ...carryForward(candidate, next.registers), count };
        return count;
      }
    }
    meter.candidates[level] = { ...next, carried: 0, count: 1 };
    return 1;
  }

  #history(id: MeterId): MeterHistory {
    let meter = this.#meters.get(id);
    if (meter !== undefined) {
      // Re-insert so the map's order is least recently active first.
      this.#meters.delete(id);
      this.#meters.set(id, meter);
      return meter;
    }
    meter = { live: false, last: {}, zeroTimes: {}, candidates: {} };
    this.#meters.set(id, meter);
    if (this.#meters.size > this.#options.maxMeters) {
      const oldest = this.#meters.keys().next().value;
      if (oldest !== undefined) this.#meters.delete(oldest);
    }
    return meter;
  }
}
