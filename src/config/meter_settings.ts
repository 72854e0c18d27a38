/**
 * A meter's effective settings: global `meters` values with its override.
 *
 * @module
 */
import type { MeterId } from "../protocol/meter_id.ts";
import type { MeterSettings } from "../protocol/meter_settings.ts";
import type { MetersConfig } from "./schema.ts";

export type { MeterSettings } from "../protocol/meter_settings.ts";

/** The settings of meters with nothing of their own, one object per configuration. */
const shared = new WeakMap<MetersConfig, MeterSettings>();

/**
 * Resolves the settings of one meter. Meters without an override, a name or
 * relay control share one object: a fleet of 100,000 costs no memory here.
 */
export function meterSettings(meters: MetersConfig, id: MeterId): MeterSettings {
  const own = Object.hasOwn(meters.overrides, id) || Object.hasOwn(meters.names, id) ||
    meters.relay_control.includes(id);
  if (own) return resolve(meters, id);
  let settings = shared.get(meters);
  if (settings === undefined) {
    settings = resolve(meters, undefined);
    shared.set(meters, settings);
  }
  return settings;
}

function resolve(meters: MetersConfig, id: MeterId | undefined): MeterSettings {
  const override = (id === undefined ? undefined : meters.overrides[id]) ?? {};
  const uploadIntervalSeconds = override.upload_interval_seconds ?? meters.upload_interval_seconds;
  return {
    profile: override.profile ?? meters.profile,
    fields: override.fields ?? meters.fields,
    uploadIntervalSeconds,
    uploadIntervalMinutes: override.upload_interval_minutes ?? meters.upload_interval_minutes,
    name: id === undefined ? undefined : meters.names[id],
    availabilityTimeoutSeconds: meters.availability_timeout_seconds ??
      Math.ceil(uploadIntervalSeconds * meters.availability_factor),
    relayControl: id !== undefined && meters.relay_control.includes(id),
  };
}
