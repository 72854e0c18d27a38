/**
 * Transforms of complete readings into the payloads published on central.
 *
 * The default payloads are what existing consumers of this kind of bridge
 * read: `seconds` = `{id, time, timestamp, active_power}`, `minutes` =
 * `{id, time, timestamp, active_energy}`. Per-phase groups add fields to
 * `seconds`; the `full` profile publishes every known tag under its readable
 * name. A tag the meter did not send is `null`, never 0 and never absent.
 *
 * @module
 */
import { z } from "zod";
import type { JsonText } from "./central_message.ts";
import type { MeterModel } from "./meter_id.ts";
import { LAYOUTS, type Reading, tagAt } from "./reading.ts";
import type { ReadingLevel } from "./uplink.ts";

/** Optional per-phase field groups of the `seconds` payload. */
export const FieldGroup = z.enum(["current", "power", "voltage", "power_factor"]);
/** Optional per-phase field groups of the `seconds` payload. */
export type FieldGroup = z.infer<typeof FieldGroup>;

/** `default`: compatible minimal payloads; `full`: every known tag. */
export const Profile = z.enum(["default", "full"]);
/** `default`: compatible minimal payloads; `full`: every known tag. */
export type Profile = z.infer<typeof Profile>;

/** What a meter's payloads contain. */
export interface OutputShape {
  readonly profile: Profile;
  readonly fields: readonly FieldGroup[];
}

/** A reading as published on `<root>/<id>/<level>`. */
export type ReadingPayload = {
  readonly id: string;
  readonly time: string;
  readonly timestamp: string;
} & Readonly<Record<string, string | number | null>>;

const DEFAULT_TAG: Readonly<Record<ReadingLevel, string>> = {
  seconds: "zyggl",
  minutes: "zygsz",
  day: "zygdd",
};

/** Tags of each per-phase group, in publishing order. */
export const FIELD_GROUP_TAGS: Readonly<Record<FieldGroup, readonly string[]>> = {
  current: ["ia", "ib", "ic"],
  power: ["pa", "pb", "pc"],
  voltage: ["ua", "ub", "uc"],
  power_factor: ["pfa", "pfb", "pfc", "zglys"],
};

const EXTENDED_MODELS: ReadonlySet<MeterModel> = new Set(["KPM37", "KPM312"]);

/** Which values a payload carries, in order: `[value index, published name]`. */
export type PayloadFields = ReadonlyArray<readonly [number, string]>;

/**
 * The fields of a meter's payloads of one level. Tags that only KPM37 /
 * KPM312 report are left out of other models' full payloads.
 */
export function payloadFields(
  level: ReadingLevel,
  shape: OutputShape,
  model: MeterModel,
): PayloadFields {
  const layout = LAYOUTS[level];
  const tags: string[] = [DEFAULT_TAG[level]];
  if (shape.profile === "full") {
    const extended = EXTENDED_MODELS.has(model);
    layout.tags.forEach((tag, i) => {
      if (extended || !tagAt(level, i).info.extended) tags.push(tag);
    });
  } else if (level === "seconds") {
    for (const group of shape.fields) tags.push(...FIELD_GROUP_TAGS[group]);
  }
  return [...new Set(tags)].map((tag) => {
    const i = layout.index.get(tag)!;
    return [i, tagAt(level, i).info.name] as const;
  });
}

/**
 * Encodes the published JSON payload ({@link ReadingPayload}) of a complete
 * reading. Written directly rather than through `JSON.stringify` of an
 * object: this is on the per-message path, and every string in it is already
 * validated to need no escaping (id, time, timestamp, dictionary names).
 */
export function encodeReadingPayload(
  reading: Reading,
  timestamp: string,
  fields: PayloadFields,
): JsonText<ReadingPayload> {
  let json = `{"id":"${reading.id}","time":"${reading.time}","timestamp":"${timestamp}"`;
  const values = reading.values;
  for (const [i, name] of fields) {
    const value = values[i];
    json += `,"${name}":${value === value ? value : "null"}`;
  }
  return (json + "}") as JsonText<ReadingPayload>;
}
