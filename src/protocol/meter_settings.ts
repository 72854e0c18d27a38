/**
 * The settings that apply to one meter, as the core uses them; the
 * configuration resolves them (`meters` with the meter's override).
 *
 * @module
 */
import type { OutputShape } from "./transform.ts";

/** Settings that apply to one meter. */
export interface MeterSettings extends OutputShape {
  readonly uploadIntervalSeconds: number;
  readonly uploadIntervalMinutes: number;
  /** Display name from `meters.names`, if any. */
  readonly name: string | undefined;
  /** Seconds without a reading after which the meter is offline. */
  readonly availabilityTimeoutSeconds: number;
  /** Whether its relay may be switched (`meters.relay_control`). */
  readonly relayControl: boolean;
}
