/**
 * What the config sender remembers per meter, and the pure rules that decide
 * when a meter needs configuration or a clock update.
 *
 * @module
 */
import { z } from "zod";
import { MeterId } from "../protocol/meter_id.ts";

/** The settings a meter is configured with; compared to detect changes. */
export const AppliedSettings = z.object({
  upload_interval_seconds: z.number(),
  upload_interval_minutes: z.number(),
});
/** The settings a meter is configured with. */
export type AppliedSettings = z.infer<typeof AppliedSettings>;

/** State of one meter. */
export const MeterConfigState = z.object({
  /** Last fully acknowledged configuration: local day (yyyyMMdd) and settings. */
  configured: z.object({
    day: z.string().regex(/^\d{8}$/),
    settings: AppliedSettings,
    at: z.iso.datetime(),
  }).optional(),
  /** When the meter last acknowledged a clock set. */
  clock_set_at: z.iso.datetime().optional(),
  /** The last command that failed after all retries. */
  last_failure: z.object({
    command: z.string(),
    oprid: z.string(),
    reason: z.string(),
    at: z.iso.datetime(),
  }).optional(),
});
/** State of one meter. */
export type MeterConfigState = z.infer<typeof MeterConfigState>;

/** The state file. */
export const ConfigSenderState = z.object({
  version: z.literal(1),
  meters: z.record(MeterId, MeterConfigState),
});
/** The state file. */
export type ConfigSenderState = z.infer<typeof ConfigSenderState>;

/** An empty state. */
export function emptyState(): ConfigSenderState {
  return { version: 1, meters: {} };
}

/** After a failure, automatic attempts wait this long (a settings change does not). */
export const FAILURE_BACKOFF_MS = 3_600_000;

/**
 * Why a meter needs its configuration sent, or `undefined` when it does not:
 * configuration goes out when it was not acknowledged on the same local day,
 * or when the meter's effective settings changed since the last
 * acknowledged update.
 */
export function configurationDue(
  state: MeterConfigState | undefined,
  settings: AppliedSettings,
  today: string,
  now: number,
): string | undefined {
  const configured = state?.configured;
  const changed = configured !== undefined &&
    (configured.settings.upload_interval_seconds !== settings.upload_interval_seconds ||
      configured.settings.upload_interval_minutes !== settings.upload_interval_minutes);
  if (changed) return "settings changed";
  const failedAt = state?.last_failure ? Date.parse(state.last_failure.at) : undefined;
  const failedRecently = failedAt !== undefined && now - failedAt < FAILURE_BACKOFF_MS &&
    (configured === undefined || failedAt > Date.parse(configured.at));
  if (failedRecently) return undefined;
  if (configured === undefined) return "never configured";
  if (configured.day !== today) return "not configured today";
  return undefined;
}

/** Whether a drifting clock may be set now (at most once per `minIntervalMs`). */
export function clockSyncAllowed(
  state: MeterConfigState | undefined,
  now: number,
  minIntervalMs: number,
): boolean {
  const last = state?.clock_set_at ? Date.parse(state.clock_set_at) : undefined;
  return last === undefined || now - last >= minIntervalMs;
}

/** A clock set this recent makes the one in a configuration batch pointless. */
export const RECENT_CLOCK_SET_MS = 10 * 60_000;

/** Whether the meter's clock was set (or a set was sent) within `RECENT_CLOCK_SET_MS`. */
export function clockSetRecently(state: MeterConfigState | undefined, now: number): boolean {
  const last = state?.clock_set_at ? Date.parse(state.clock_set_at) : undefined;
  return last !== undefined && now - last < RECENT_CLOCK_SET_MS;
}
