/**
 * Messages between the supervisor (main thread) and its workers.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import type { MeterCommandRequest } from "../protocol/bridge_api.ts";
import type { MeterConfigSummary } from "../protocol/meter_status.ts";
import type { ClusterWorker, RequestResult } from "../protocol/cluster.ts";
import type { BridgeSnapshot, WorkerState } from "../status/bridge_snapshot.ts";

export type { RequestResult } from "../protocol/cluster.ts";

/**
 * Something one worker (or the supervisor) tells the others, routed by the
 * supervisor to every worker but its sender; each takes the types it handles.
 */
export type BridgeEvent =
  /** Proxy: a meter's clock is off by more than `meters.time_sync.max_drift_seconds`. */
  | { readonly type: "clock_drift"; readonly id: string; readonly drift_seconds: number }
  /** Proxy → config sender: carry out a meter command (bridge API, relay switch). */
  | {
    readonly type: "command_request";
    readonly request: string;
    readonly command: MeterCommandRequest;
    /**
     * When the requester answers on its own (epoch ms): nothing of the
     * request may reach the meter after it. Absent from older replicas.
     */
    readonly expires_at?: number;
  }
  /** Config sender → proxy: how a `command_request` ended. */
  | { readonly type: "command_result"; readonly request: string; readonly result: RequestResult }
  /** Config sender → proxy: a meter's configuration state changed. */
  | { readonly type: "meter_config"; readonly id: string; readonly summary: MeterConfigSummary }
  /** Config sender → proxy: a command was acknowledged this many seconds after it was sent. */
  | { readonly type: "ack_latency"; readonly seconds: number }
  /**
   * Proxy in another process → config sender: report every meter's
   * configuration state again (the proxy restarted or reconnected).
   */
  | { readonly type: "resync" }
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
 * workers that ignore them.
 */
export const EVENT_RECIPIENTS: Readonly<Partial<Record<BridgeEvent["type"], readonly string[]>>> = {
  clock_drift: ["config_sender"],
  command_request: ["config_sender"],
  command_result: ["proxy"],
  meter_config: ["proxy"],
  ack_latency: ["proxy"],
  resync: ["config_sender"],
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
