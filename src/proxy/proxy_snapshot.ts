/**
 * The proxy's picture of the whole bridge: the snapshot the HTTP worker
 * serves (sent periodically, and at once when readiness may have changed)
 * and the bridge API's `health`. Keeps what only arrives as events: the
 * acknowledgement latency histogram and the workers' states.
 *
 * @module
 */
import type { OutboxProblem } from "../outbox/outbox_problem.ts";
import type { OutboxStatus } from "../outbox/outbox.ts";
import type { MeterStatus } from "../protocol/meter_status.ts";
import {
  ACK_LATENCY_BUCKETS,
  type BridgeSnapshot,
  type WorkerState,
} from "../status/bridge_snapshot.ts";
import type { Clock } from "./central_port.ts";
import type { ProxyStatsSnapshot } from "./proxy_stats.ts";

/** What a snapshot is made of. */
export interface SnapshotSources {
  version: string;
  startedAt: number;
  brokers(): { internal: boolean; central: boolean };
  counts(): ProxyStatsSnapshot;
  outbox(): { status: OutboxStatus; durable: boolean; problem: OutboxProblem | undefined };
  meterCounts(): BridgeSnapshot["meter_counts"];
  /** The listed meters' statuses. */
  statuses(): MeterStatus[];
}

/** Builds snapshots and `health` from the sources and the events it was told. */
export class ProxySnapshot {
  readonly #ackLatency = { counts: ACK_LATENCY_BUCKETS.map(() => 0).concat(0), sum: 0, count: 0 };
  #workers: Readonly<Record<string, WorkerState>> = {};

  constructor(readonly sources: SnapshotSources, readonly now: Clock) {}

  /** Counts one acknowledgement latency (seconds) in the histogram. */
  ackLatency(seconds: number): void {
    const histogram = this.#ackLatency;
    const bucket = ACK_LATENCY_BUCKETS.findIndex((bound) => seconds <= bound);
    const index = bucket === -1 ? ACK_LATENCY_BUCKETS.length : bucket;
    histogram.counts[index] = (histogram.counts[index] ?? 0) + 1;
    histogram.sum += seconds;
    histogram.count++;
  }

  /**
   * The workers' states changed; returns whether the HTTP worker just
   * started: it has seen no snapshot, and readiness need not wait for one.
   */
  workers(workers: Readonly<Record<string, WorkerState>>): boolean {
    const started = workers.http === "running" && this.#workers.http !== "running";
    this.#workers = workers;
    return started;
  }

  /** Data of the bridge API's `health` response. */
  health(): Record<string, unknown> {
    const brokers = this.sources.brokers();
    const workers = this.#workers;
    const outbox = this.sources.outbox();
    const meters = this.sources.meterCounts();
    return {
      healthy: brokers.internal && brokers.central && outbox.problem === undefined &&
        Object.values(workers).every((state) => state === "running"),
      brokers,
      workers,
      uptime_seconds: Math.round((this.now() - this.sources.startedAt) / 1000),
      meters: meters.known,
      meters_online: meters.online,
      outbox_depth: outbox.status.entries,
      outbox_problem: outbox.problem ?? null,
    };
  }

  /** The whole bridge as the proxy sees it, for the HTTP worker. */
  take(): BridgeSnapshot {
    const counts = this.sources.counts();
    const outbox = this.sources.outbox();
    return {
      version: this.sources.version,
      started_at: new Date(this.sources.startedAt).toISOString(),
      taken_at: new Date(this.now()).toISOString(),
      brokers: this.sources.brokers(),
      counters: {
        received: counts.received_by_topic,
        published: counts.published_by_level,
        announced: counts.announced,
        rejected: counts.rejected,
        dropped: counts.dropped,
        incomplete: counts.incomplete,
        register_resets: counts.register_resets,
      },
      ack_latency: { buckets: ACK_LATENCY_BUCKETS, ...structuredClone(this.#ackLatency) },
      outbox: {
        depth: outbox.status.entries,
        bytes: outbox.status.bytes,
        dropped: outbox.status.dropped,
        durable: outbox.durable,
        problem: outbox.problem ?? null,
      },
      meter_counts: this.sources.meterCounts(),
      meters: this.sources.statuses(),
    };
  }
}
