/**
 * A reading: one validated measurement set of one meter at one meter time,
 * reduced to the known tags of its level.
 *
 * Values sit in a plain number array in dictionary order, with `NaN` for a tag the
 * meter did not send or sent as `null`: cheap to build, compare and merge on
 * the per-message path, and "no value" can never be mistaken for 0.
 *
 * @module
 */
import type { MeterId } from "./meter_id.ts";
import type { TagInfo } from "./tags.ts";
import { READING_TOPICS, type ReadingLevel } from "./uplink.ts";

/** The tags of one reading level, in value order. */
export interface LevelLayout {
  readonly level: ReadingLevel;
  readonly tags: readonly string[];
  readonly info: readonly TagInfo[];
  /** Position of each tag in a reading's values. */
  readonly index: ReadonlyMap<string, number>;
}

function layoutOf(level: ReadingLevel, dictionary: Readonly<Record<string, TagInfo>>): LevelLayout {
  const entries = Object.entries(dictionary);
  const tags = entries.map(([tag]) => tag);
  return {
    level,
    tags,
    info: entries.map(([, info]) => info),
    index: new Map(tags.map((tag, i) => [tag, i])),
  };
}

/** Value layout of each reading level. */
export const LAYOUTS: Readonly<Record<ReadingLevel, LevelLayout>> = {
  seconds: layoutOf("seconds", READING_TOPICS.MQTT_RT_DATA.tags),
  minutes: layoutOf("minutes", READING_TOPICS.MQTT_ENY_NOW.tags),
  day: layoutOf("day", READING_TOPICS.MQTT_DAY_DATA.tags),
};

/** A tag of a level's values: its name and dictionary entry. */
export interface LayoutTag {
  readonly tag: string;
  readonly info: TagInfo;
}

/**
 * The tag at position `i` of a level's values.
 *
 * @throws RangeError when the level has no tag there (a position not taken from its layout)
 */
export function tagAt(level: ReadingLevel, i: number): LayoutTag {
  const { tags, info } = LAYOUTS[level];
  const tag = tags[i];
  const entry = info[i];
  if (tag === undefined || entry === undefined) {
    throw new RangeError(`${level} readings have no tag at position ${i}`);
  }
  return { tag, info: entry };
}

/** A validated reading (possibly one packet of a split reading). */
export interface Reading {
  readonly level: ReadingLevel;
  readonly id: MeterId;
  /** Meter local time, `yyyyMMddHHmmss`. */
  readonly time: string;
  /** False on every packet of a split reading but the last (`isend` "0"). */
  readonly final: boolean;
  /** Values in {@link LAYOUTS} order; `NaN` = no value. */
  readonly values: readonly number[];
}

/** Whether every value present is exactly 0 (an all-zero burst). */
export function isAllZero(values: readonly number[]): boolean {
  let seen = false;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value !== value) continue; // NaN: no value
    if (value !== 0) return false;
    seen = true;
  }
  return seen;
}

/** Values of `later` where it has one, else of `earlier` (split-packet merge). */
export function mergeValues(earlier: readonly number[], later: readonly number[]): number[] {
  const merged = earlier.slice();
  for (let i = 0; i < later.length; i++) {
    const value = later[i]!;
    if (value === value) merged[i] = value;
  }
  return merged;
}

/** The value of a tag, or `null` when the reading has none. */
export function valueOf(reading: Reading, tag: string): number | null {
  const i = LAYOUTS[reading.level].index.get(tag);
  if (i === undefined) return null;
  const value = reading.values[i];
  return value !== undefined && value === value ? value : null;
}
