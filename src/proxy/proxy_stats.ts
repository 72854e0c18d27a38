/**
 * Counters of the data flow: what came in, what went out, and why anything
 * did not.
 *
 * @module
 */
import type { DropCode } from "../protocol/filter.ts";
import type { RejectionCode } from "../protocol/rejection.ts";

/** A snapshot of the proxy's counters since start. */
export interface ProxyStatsSnapshot {
  received: number;
  /** Raw messages by uplink topic. */
  received_by_topic: Record<string, number>;
  published: number;
  /** Readings published by level. */
  published_by_level: Record<string, number>;
  announced: number;
  rejected: Partial<Record<RejectionCode, number>>;
  dropped: Partial<Record<DropCode, number>>;
  incomplete: number;
  /** Register resets accepted. */
  register_resets: number;
  publish_failed: number;
}

/** Counters of the proxy worker. */
export class ProxyStats {
  readonly #counts: ProxyStatsSnapshot = {
    received: 0,
    received_by_topic: {},
    published: 0,
    published_by_level: {},
    announced: 0,
    rejected: {},
    dropped: {},
    incomplete: 0,
    register_resets: 0,
    publish_failed: 0,
  };

  /** Counts one received raw message. */
  received(topic: string): void {
    this.#counts.received++;
    const byTopic = this.#counts.received_by_topic;
    byTopic[topic] = (byTopic[topic] ?? 0) + 1;
  }

  /** Counts one reading (or meter state) published on central. */
  published(level: string): void {
    this.#counts.published++;
    const byLevel = this.#counts.published_by_level;
    byLevel[level] = (byLevel[level] ?? 0) + 1;
  }

  /** Counts one meter announced. */
  announced(): void {
    this.#counts.announced++;
  }

  /** Counts one rejected message. */
  rejected(code: RejectionCode): void {
    this.#counts.rejected[code] = (this.#counts.rejected[code] ?? 0) + 1;
  }

  /** Counts one valid reading that was not published. */
  dropped(code: DropCode): void {
    this.#counts.dropped[code] = (this.#counts.dropped[code] ?? 0) + 1;
  }

  /** Counts one split reading given up incomplete. */
  incomplete(): void {
    this.#counts.incomplete++;
  }

  /** Counts one register reset accepted. */
  registerReset(): void {
    this.#counts.register_resets++;
  }

  /** Counts one publish the central broker failed. */
  publishFailed(): void {
    this.#counts.publish_failed++;
  }

  /** A copy of the counters. */
  snapshot(): ProxyStatsSnapshot {
    return structuredClone(this.#counts);
  }
}
