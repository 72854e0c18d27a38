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
    /** The settings the failed configuration tried to set. */
    settings: AppliedSettings.optional(),
    /** Failed configurations in a row: each doubles the wait before the next attempt. */
    consecutive: z.number().int().min(1).optional(),
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

/** The wait never grows beyond a day: a meter that comes back is configured within a day. */
export const MAX_FAILURE_BACKOFF_MS = 86_400_000;

/** The wait after `consecutive` failed configurations in a row: 1 h, 2 h, 4 h, … 24 h. */
export function failureBackoffMs(consecutive: number): number {
  return Math.min(MAX_FAILURE_BACKOFF_MS, FAILURE_BACKOFF_MS * 2 ** (Math.max(1, consecutive) - 1));
}

/** Failed configurations in a row since the last acknowledged one. */
export function consecutiveFailures(state: MeterConfigState | undefined): number {
  const failure = state?.last_failure;
  if (failure === undefined) return 0;
  const configured = state?.configured;
  if (configured !== undefined && Date.parse(failure.at) <= Date.parse(configured.at)) return 0;
  return failure.consecutive ?? 1;
}

const sameSettings = (a: AppliedSettings, b: AppliedSettings) =>
  a.upload_interval_seconds === b.upload_interval_seconds &&
  a.upload_interval_minutes === b.upload_interval_minutes;

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
  if (configured !== undefined && !sameSettings(configured.settings, settings)) {
    return "settings changed";
  }
  const failure = state?.last_failure;
  const failures = consecutiveFailures(state);
  if (
    failure !== undefined && failures > 0 &&
    now - Date.parse(failure.at) < failureBackoffMs(failures)
  ) {
    // Waiting after a failure, unless the settings differ from what failed.
    return failure.settings !== undefined && !sameSettings(failure.settings, settings)
      ? "settings changed"
      : undefined;
  }
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
