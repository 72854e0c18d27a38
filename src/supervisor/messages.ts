/**
 * Messages between the supervisor (main thread) and its workers.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";

/** Something one worker tells the others, routed by the supervisor. */
export type BridgeEvent =
  /** A meter's clock is off by more than `meters.time_sync.max_drift_seconds`. */
  { readonly type: "clock_drift"; readonly id: string; readonly drift_seconds: number };

/** Supervisor → worker. */
export type ToWorker =
  /** Start the worker's service with the validated configuration. */
  | { readonly type: "start"; readonly config: Config }
  /** A new valid configuration to apply without restart. */
  | { readonly type: "config"; readonly config: Config }
  /** An event from another worker. */
  | { readonly type: "event"; readonly event: BridgeEvent }
  /** Stop within the given time: finish in-flight work, then report `stopped`. */
  | { readonly type: "stop"; readonly timeoutMs: number };

/** Worker → supervisor. */
export type FromWorker =
  /** The service is running. */
  | { readonly type: "started" }
  /** The service stopped cleanly after a `stop` request. */
  | { readonly type: "stopped" }
  /** The service failed and cannot go on; the supervisor restarts the worker. */
  | { readonly type: "failed"; readonly error: string }
  /** An event for the other workers. */
  | { readonly type: "event"; readonly event: BridgeEvent };
