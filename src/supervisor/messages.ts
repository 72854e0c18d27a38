/**
 * Messages between the supervisor (main thread) and its workers.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";

/** Supervisor → worker. */
export type ToWorker =
  /** Start the worker's service with the validated configuration. */
  | { readonly type: "start"; readonly config: Config }
  /** Stop within the given time: finish in-flight work, then report `stopped`. */
  | { readonly type: "stop"; readonly timeoutMs: number };

/** Worker → supervisor. */
export type FromWorker =
  /** The service is running. */
  | { readonly type: "started" }
  /** The service stopped cleanly after a `stop` request. */
  | { readonly type: "stopped" }
  /** The service failed and cannot go on; the supervisor restarts the worker. */
  | { readonly type: "failed"; readonly error: string };
