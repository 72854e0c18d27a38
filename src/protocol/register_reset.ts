/**
 * The register-reset rule's helpers: which registers a reading carries over
 * from earlier ones, and which register a confirmed reset moved.
 *
 * A register going backwards, or rising faster than the meter could measure,
 * does not continue a meter's history; when the following readings continue
 * consistently from the new value, it is a register reset (the rules are
 * in filter.ts).
 *
 * @module
 */
import { CUMULATIVE_INDICES, type RegisterPoint, registerTag } from "./plausibility.ts";
import { mergeValues } from "./reading.ts";
import type { ReadingLevel } from "./uplink.ts";

/** A register reset accepted: the register that restarted, from where, to where. */
export interface RegisterReset {
  readonly register: string;
  readonly from: number;
  readonly to: number;
}

/** Registers carried over a reading that lacked them, and from where. */
export interface Carried {
  /**
   * The cumulative registers (CUMULATIVE_INDICES order): a register a reading
   * lacks keeps its last known value, so a gap cannot lift the guard against
   * one going backwards.
   */
  readonly registers: readonly number[];
  /** Bit r set: register r's value came with an earlier reading. */
  carried: number;
  /** With `carried`: where the oldest carried value stood, to judge those registers' rise from. */
  carriedFrom?: Pick<RegisterPoint, "instant" | "at">;
}

/** A reading's place in a register series, as the reset rule compares it. */
export type ResetPoint = RegisterPoint & { readonly time: string };

/** Readings that do not continue the history, but may be a register reset. */
export interface ResetCandidate extends RegisterPoint {
  readonly time: string;
  /** As {@link Carried.carried}. */
  readonly carried: number;
  readonly carriedFrom?: Pick<RegisterPoint, "instant" | "at">;
  /** Consistent readings counted so far. */
  readonly count: number;
}

/** The register of a confirmed reset that moved most, with its old and new value. */
export function resetOf(
  level: ReadingLevel,
  from: readonly number[],
  to: readonly number[],
): RegisterReset {
  const indices = CUMULATIVE_INDICES[level];
  let best = 0;
  let moved = -1;
  for (let r = 0; r < indices.length; r++) {
    // NaN (a register without value) compares false and is never chosen.
    const delta = Math.abs((to[r] ?? NaN) - (from[r] ?? NaN));
    if (delta > moved) [best, moved] = [r, delta];
  }
  return { register: registerTag(level, best).tag, from: from[best] ?? NaN, to: to[best] ?? NaN };
}

/**
 * The registers of a reading that continues `last`: a register the reading
 * lacks (NaN) keeps its last known value, marked as carried, with where the
 * oldest carried value stood.
 */
export function carryForward(last: RegisterPoint & Carried, next: readonly number[]): Carried {
  let carried = 0;
  for (let r = 0; r < next.length; r++) {
    if (next[r] !== next[r] && last.registers[r] === last.registers[r]) carried |= 1 << r;
  }
  if (carried === 0) return { registers: next, carried };
  const carriedFrom = last.carried === 0 || last.carriedFrom === undefined
    ? { instant: last.instant, at: last.at }
    : last.carriedFrom;
  return { registers: mergeValues(last.registers, next), carried, carriedFrom };
}

/** The registers whose bit is set in `mask`; the others NaN. */
export function only(registers: readonly number[], mask: number): number[] {
  return registers.map((value, r) => mask & (1 << r) ? value : NaN);
}
