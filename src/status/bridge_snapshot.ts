/**
 * A point-in-time picture of the whole bridge, assembled by the proxy (which
 * sees every reading and hears from the config sender) and sent to the HTTP
 * worker, which renders `/metrics`, `/readyz` and the status page from it.
 *
 * @module
 */
import type { OutboxProblem } from "../outbox/outbox_problem.ts";
import type { MeterStatus } from "../protocol/meter_status.ts";

/** Life-cycle state of a worker, as the supervisor sees it. */
export type WorkerState = "starting" | "running" | "restarting" | "stopped";

/** Upper bounds (seconds) of the command acknowledgement latency histogram. */
export const ACK_LATENCY_BUCKETS: readonly number[] = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** A cumulative-free histogram: `counts[i]` observations ≤ `buckets[i]`, the last beyond all. */
export interface Histogram {
  readonly buckets: readonly number[];
  /** One count per bucket plus one for observations above the last bound. */
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/** Counters of the data flow since the bridge started. */
export interface FlowCounters {
  /** Raw messages received from the internal broker, by uplink topic. */
  readonly received: Readonly<Record<string, number>>;
  /** Readings published on central, by level (`seconds`, `minutes`, `day`). */
  readonly published: Readonly<Record<string, number>>;
  readonly announced: number;
  /** Messages rejected as invalid, by reason code. */
  readonly rejected: Readonly<Record<string, number>>;
  /** Valid readings not published, by reason code (duplicate, zero_burst, …). */
  readonly dropped: Readonly<Record<string, number>>;
  readonly incomplete: number;
  /** Register resets accepted (a cleared counter, a replacement meter). */
  readonly register_resets: number;
}

/** The whole bridge at one moment. */
export interface BridgeSnapshot {
  readonly version: string;
  /** ISO time the bridge process started. */
  readonly started_at: string;
  /** ISO time of this snapshot. */
  readonly taken_at: string;
  readonly brokers: { readonly internal: boolean; readonly central: boolean };
  readonly counters: FlowCounters;
  readonly ack_latency: Histogram;
  readonly outbox: {
    readonly depth: number;
    readonly bytes: number;
    readonly dropped: number;
    readonly durable: boolean;
    /** What was wrong with the outbox at start, until acknowledged; null when nothing is. */
    readonly problem: OutboxProblem | null;
  };
  /** Every meter the proxy knows, and how many of them are online. */
  readonly meter_counts: { readonly known: number; readonly online: number };
  /** The first `limits.max_listed_meters` meters by id. */
  readonly meters: readonly MeterStatus[];
}
