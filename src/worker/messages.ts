/**
 * Messages between the supervisor (main thread) and its workers.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import {
  CLUSTER_EVENT_RECIPIENT,
  type ClusterEvent,
  type ClusterWorker,
  type RequestResult,
} from "../protocol/cluster.ts";
import type { BridgeSnapshot, WorkerState } from "../status/bridge_snapshot.ts";

export type { RequestResult } from "../protocol/cluster.ts";

/**
 * Something one worker (or the supervisor) tells the others, routed by the
 * supervisor to every worker but its sender; each takes the types it handles.
 * The events that may also travel between processes (replicas and the
 * configuration flow: clock drift, command requests and results, meter
 * configuration states, resync) are defined once, with their schema, as
 * {@link ClusterEvent}.
 */
export type BridgeEvent =
  | ClusterEvent
  /** Config sender → proxy: a command was acknowledged this many seconds after it was sent. */
  | { readonly type: "ack_latency"; readonly seconds: number }
  /** Proxy → supervisor: reload config.yaml now (bridge API `config/reload`). */
  | { readonly type: "reload_request"; readonly request: string }
  /** Supervisor → proxy: how a `reload_request` ended. */
  | { readonly type: "reload_result"; readonly request: string; readonly result: RequestResult }
  /** Supervisor → all: the state of every worker, sent whenever one changes. */
  | { readonly type: "workers"; readonly workers: Readonly<Record<string, WorkerState>> }
  /** Proxy → HTTP worker: the bridge's current picture. */
  | { readonly type: "snapshot"; readonly snapshot: BridgeSnapshot };

/**
 * The workers each event type is for; types not listed go to every worker
 * but the sender. Keeps large events (snapshots) from being copied to
 * workers that ignore them. Cluster events go to the one worker the cluster
 * table names.
 */
export const EVENT_RECIPIENTS: Readonly<Partial<Record<BridgeEvent["type"], readonly string[]>>> = {
  ...Object.fromEntries(
    Object.entries(CLUSTER_EVENT_RECIPIENT).map(([type, worker]) => [type, [worker]]),
  ),
  ack_latency: ["proxy"],
  reload_request: [],
  reload_result: ["proxy"],
  snapshot: ["http"],
};

/** Supervisor → worker. */
export type ToWorker =
  /**
   * Start the worker's service with the validated configuration; `remote`
   * names the bridge's workers that run in other processes.
   */
  | { readonly type: "start"; readonly config: Config; readonly remote: readonly ClusterWorker[] }
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
  | { readonly type: "event"; readonly event: BridgeEvent }
  /** Formatted log lines for the log file (only with `logging.file`). */
  | { readonly type: "log"; readonly text: string };
