/**
 * A meter's effective settings: global `meters` values with its override.
 *
 * @module
 */
import type { MeterId } from "../protocol/meter_id.ts";
import type { OutputShape } from "../protocol/transform.ts";
import type { MetersConfig } from "./schema.ts";

/** Settings that apply to one meter. */
export interface MeterSettings extends OutputShape {
  readonly uploadIntervalSeconds: number;
  readonly uploadIntervalMinutes: number;
  /** Display name from `meters.names`, if any. */
  readonly name: string | undefined;
}

/** Resolves the settings of one meter. */
export function meterSettings(meters: MetersConfig, id: MeterId): MeterSettings {
  const override = meters.overrides[id] ?? {};
  return {
    profile: override.profile ?? meters.profile,
    fields: override.fields ?? meters.fields,
    uploadIntervalSeconds: override.upload_interval_seconds ?? meters.upload_interval_seconds,
    uploadIntervalMinutes: override.upload_interval_minutes ?? meters.upload_interval_minutes,
    name: meters.names[id],
  };
}
