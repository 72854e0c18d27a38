/**
 * What the bridge knows about each meter: published retained on
 * `<root>/<id>/status`, listed on `<root>/bridge/meters` and shown by the
 * HTTP status page and `/metrics`.
 *
 * @module
 */
import { z } from "zod";
import { MeterId } from "./meter_id.ts";

/** Availability of a meter or of the bridge, plain strings as Home Assistant expects. */
export const Availability = z.enum(["online", "offline"]);
/** Availability of a meter or of the bridge. */
export type Availability = z.infer<typeof Availability>;

/**
 * Where a meter's configuration stands: `pending` (not yet sent), `configuring`
 * (commands out), `configured` (today's settings acknowledged), `failed` (the
 * last attempt failed after all retries), `excluded` (`meters.exclude`).
 */
export const ConfigurationState = z.enum([
  "pending",
  "configuring",
  "configured",
  "failed",
  "excluded",
]);
/** Where a meter's configuration stands. */
export type ConfigurationState = z.infer<typeof ConfigurationState>;

/** Relay (DO1) state as Home Assistant switches expect it. */
export const RelayState = z.enum(["ON", "OFF"]);
/** Relay (DO1) state. */
export type RelayState = z.infer<typeof RelayState>;

/** The configuration flow's view of one meter, reported by the config sender. */
export const MeterConfigSummary = z.object({
  configuration: ConfigurationState,
  /** Upload intervals the meter acknowledged (`null`: none yet). */
  intervals: z.object({
    seconds: z.number().int().nullable(),
    minutes: z.number().int().nullable(),
  }),
  /** When the meter last acknowledged a clock set. */
  clock_set_at: z.iso.datetime().nullable(),
  /** Milliseconds from sending the last acknowledged command to its acknowledgement. */
  last_ack_latency_ms: z.number().nullable(),
  /** The last command failure, e.g. `seconds interval 60 s: no acknowledgement after 3 attempts`. */
  last_error: z.string().nullable(),
});
/** The configuration flow's view of one meter. */
export type MeterConfigSummary = z.infer<typeof MeterConfigSummary>;

/** Payload of `<root>/<id>/status` (retained), one entry of `<root>/bridge/meters`. */
export const MeterStatus = MeterConfigSummary.extend({
  id: MeterId,
  name: z.string(),
  model: z.string(),
  availability: Availability,
  /** When the last valid reading arrived (`null`: none since the bridge started). */
  last_seen: z.iso.datetime().nullable(),
  /** Readings published since the bridge started. */
  readings: z.number().int(),
  /** Valid readings not published because they would corrupt history (energy going back). */
  rejected: z.number().int(),
  /** Readings rejected as implausible (`meters.plausibility`) since the bridge started. */
  implausible: z.number().int(),
  /** Why the last implausible reading was rejected. */
  last_implausible: z.string().nullable(),
  /** Register resets accepted since the bridge started. */
  register_resets: z.number().int(),
  /** The last register reset accepted: when, which register, from and to what value. */
  last_register_reset: z.object({
    at: z.iso.datetime(),
    level: z.string(),
    register: z.string(),
    from: z.number(),
    to: z.number(),
  }).nullable(),
  /** All-zero bursts held back. */
  zero_filtered: z.number().int(),
  /** Repeated readings dropped. */
  duplicates: z.number().int(),
  /** Meter clock minus bridge clock at the last reading, in seconds. */
  clock_drift_seconds: z.number().nullable(),
  /** Readings of this meter waiting in the outbox for the central broker. */
  outbox_depth: z.number().int(),
  /** Last published values by payload field name, e.g. `active_power`. */
  values: z.record(z.string(), z.number().nullable()),
  /** Relay (DO1) state when known. */
  relay: RelayState.nullable(),
});
/** Payload of `<root>/<id>/status`. */
export type MeterStatus = z.infer<typeof MeterStatus>;
