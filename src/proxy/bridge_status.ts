/**
 * Keeps the proxy's own retained topics truthful: `bridge/state` (online only
 * when readings can flow), `bridge/info`, `bridge/outbox`, `bridge/meters`,
 * and each meter's `status`, sent spread over one status interval (with
 * replicas the bridge topics are the replica's own, see `topic`).
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { BridgeInfo, BridgeState } from "../protocol/topics.ts";
import type { MeterId } from "../protocol/meter_id.ts";
import type { MeterStatus } from "../protocol/meter_status.ts";
import type { OutboxProblem } from "../outbox/outbox_problem.ts";
import type { OutboxStatus } from "../outbox/outbox.ts";
import { PacedQueue } from "../runtime/paced_queue.ts";
import { type CentralPort, type Clock, publishDirect } from "./central_port.ts";

/** Statuses sent per second at least while a round of changed statuses goes out. */
const MIN_STATUS_RATE = 10;

/** What the bridge topics report. */
export interface BridgeStatusSources {
  /** `<root>/bridge/<leaf>`, or a replica's own. */
  topic(leaf: string): string;
  /** `<root>/<id>/status`. */
  statusTopic(id: MeterId): string;
  statusIntervalSeconds(): number;
  /** Whether readings can flow from the internal broker (subscribed). */
  readingsFlow(): boolean;
  /** Whether the proxy is stopping: the state is then left to `offline`. */
  stopping(): boolean;
  outbox(): { status: OutboxStatus; durable: boolean; problem: OutboxProblem | undefined };
  /** Meters whose status changed since last asked. */
  takeChanged(): MeterId[];
  status(id: MeterId): MeterStatus | undefined;
  /** The listed meters' statuses. */
  statuses(): MeterStatus[];
  /** `bridge/info` at `now`. */
  info(now: number): BridgeInfo;
  /** The state is about to change: readiness follows at once. */
  stateChanging(): void;
}

/** Publishes the bridge topics and meter statuses, each only when it changed. */
export class BridgeStatus {
  #publishedState: BridgeState | undefined;
  #publishedOutbox = "";
  #publishedMeters = "";
  /**
   * Statuses that changed, sent spread over one status interval: a fleet of
   * thousands changes every interval, and all at once would be a burst.
   */
  readonly #statusQueue: PacedQueue<MeterId>;

  constructor(
    readonly central: CentralPort,
    readonly sources: BridgeStatusSources,
    readonly now: Clock,
    readonly log: Logger,
  ) {
    this.#statusQueue = new PacedQueue(
      { ratePerSecond: MIN_STATUS_RATE, burst: MIN_STATUS_RATE },
      (id) => this.#publishStatus(id),
      now(),
    );
  }

  /** The central connection closed: everything is published again after it. */
  disconnected(): void {
    this.#publishedState = undefined;
    this.#publishedOutbox = "";
  }

  /** The central connection is up: `bridge/meters` is published again with the next round. */
  connected(): void {
    this.#publishedMeters = "";
  }

  /** `online` only when readings can flow: both brokers up and subscriptions granted. */
  updateState(): void {
    if (this.sources.stopping() || !this.central.connected()) return;
    const state: BridgeState = this.sources.readingsFlow() ? "online" : "offline";
    if (state === this.#publishedState) return;
    this.#publishedState = state;
    this.sources.stateChanging();
    this.central.publish(this.sources.topic("state"), state, { qos: 1, retain: true }, (error) => {
      if (error) {
        this.log.warn("Publishing bridge state failed: {error}", { error: error.message });
        return;
      }
      this.log.info("Bridge state {state}", { state });
    });
  }

  /** Publishes `offline` at a clean stop; resolves when acknowledged or after `timeoutMs`. */
  publishOffline(timeoutMs: number): Promise<void> {
    if (!this.central.connected()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, timeoutMs));
      this.central.publish(this.sources.topic("state"), "offline", { qos: 1, retain: true }, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Publishes `<root>/bridge/outbox` (retained) when the outbox changed. */
  publishOutbox(): void {
    if (!this.central.connected()) return;
    const { status, durable, problem } = this.sources.outbox();
    const { entries, bytes, dropped, oldest } = status;
    const payload = JSON.stringify({
      depth: entries,
      bytes,
      dropped,
      oldest: oldest === undefined ? null : new Date(oldest).toISOString(),
      durable,
      problem: problem ?? null,
    });
    if (payload === this.#publishedOutbox) return;
    this.#publishedOutbox = payload;
    this.central.publish(this.sources.topic("outbox"), payload, { qos: 0, retain: true });
  }

  /** Publishes `<root>/bridge/info` (retained). */
  publishInfo(): void {
    const info = this.sources.info(this.now());
    publishDirect(this.central, this.log, this.sources.topic("info"), JSON.stringify(info), true);
  }

  /**
   * Queues the statuses of meters that changed, to go out over the next
   * status interval, and publishes `bridge/meters` and `bridge/info`.
   */
  publishStatuses(): void {
    if (!this.central.connected()) return;
    for (const id of this.sources.takeChanged()) this.#statusQueue.add(id);
    const rate = Math.max(
      MIN_STATUS_RATE,
      Math.ceil(this.#statusQueue.size / this.sources.statusIntervalSeconds()),
    );
    this.#statusQueue.setRate({ ratePerSecond: rate, burst: rate });
    const meters = JSON.stringify(this.sources.statuses());
    if (meters !== this.#publishedMeters) {
      this.#publishedMeters = meters;
      publishDirect(this.central, this.log, this.sources.topic("meters"), meters, true, 0);
    }
    this.publishInfo();
  }

  /** Sends the queued statuses the rate allows by `now`. */
  drain(now: number): void {
    this.#statusQueue.drain(now);
  }

  #publishStatus(id: MeterId): number {
    const status = this.sources.status(id);
    if (status === undefined) return 0;
    publishDirect(
      this.central,
      this.log,
      this.sources.statusTopic(id),
      JSON.stringify(status),
      true,
      0,
    );
    return 1;
  }
}
