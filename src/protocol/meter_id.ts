/**
 * Meter identity: the 13-character meter code every uplink payload carries.
 *
 * An id is the only meter-controlled string that ever becomes part of an MQTT
 * topic, so it is validated strictly before anything else uses it.
 *
 * @module
 */
import { z } from "zod";

/** Pattern of a meter code: exactly 13 digits or upper-case letters. */
export const METER_ID_PATTERN: RegExp = /^[0-9A-Z]{13}$/;

/** A validated meter code, e.g. `33B1225950027`. */
export const MeterId = z.string().regex(METER_ID_PATTERN, {
  error: "meter id must be exactly 13 characters 0-9 or A-Z",
}).brand<"MeterId">();

/** A validated meter code. */
export type MeterId = z.infer<typeof MeterId>;

/** Compere meter models, recognised from the first characters of the id. */
export type MeterModel =
  | "KPM312"
  | "KPM31A"
  | "KPM31B"
  | "KPM31C"
  | "KPM31"
  | "KPM33A"
  | "KPM33B"
  | "KPM33"
  | "KPM37"
  | "unknown";

// Longest prefix first: `312…` is a KPM312, not a KPM31.
const MODEL_PREFIXES: ReadonlyArray<readonly [string, MeterModel]> = [
  ["312", "KPM312"],
  ["31A", "KPM31A"],
  ["31B", "KPM31B"],
  ["31C", "KPM31C"],
  ["31", "KPM31"],
  ["33A", "KPM33A"],
  ["33B", "KPM33B"],
  ["33", "KPM33"],
  ["37", "KPM37"],
];

/** The meter model encoded in the first characters of its id. */
export function modelOf(id: MeterId): MeterModel {
  for (const [prefix, model] of MODEL_PREFIXES) {
    if (id.startsWith(prefix)) return model;
  }
  return "unknown";
}

/** The last 8 characters of the id, which address the meter's command topics. */
export function commandSuffix(id: MeterId): string {
  return id.slice(-8);
}

/** Whether a plain string is a valid meter id (no allocation, for hot paths). */
export function isMeterId(value: unknown): value is MeterId {
  return typeof value === "string" && METER_ID_PATTERN.test(value);
}
