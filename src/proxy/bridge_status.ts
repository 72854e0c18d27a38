/**
 * Keeps the proxy's own retained topics truthful: `bridge/state` (online only
 * when readings can flow), `bridge/info`, `bridge/outbox`, `bridge/meters`,
 * and each meter's `status`, sent spread over one status interval (with
 * replicas the bridge topics are the replica's own, see `topic`).
 *
 * Everything goes out with QoS 1, like the readings. A QoS 0 message makes a
 * subscriber of both send no PUBACK, so nothing carries its TCP ACK back; a
 * stock broker (Nagle on) then holds the next readings for that subscriber
 * until the delayed ACK, up to 40 ms.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { type BridgeParams, centralMessage } from "../protocol/central_message.ts";
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
  /** Where the bridge topics go: `<root>/bridge/…`, or a replica's own. */
  bridge(): BridgeParams;
  /** The topic root of the meters' topics. */
  root(): string;
  statusIntervalSeconds(): number;
  /**
   * Whether the bridge is ready: readings can flow from the internal broker
   * (subscribed) and the bridge API listens on central, so a request sent on
   * `online` is answered.
   */
  ready(): boolean;
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

  /** `online` only when ready: both brokers up and their subscriptions answered. */
  updateState(): void {
    if (this.sources.stopping() || !this.central.connected()) return;
    const state: BridgeState = this.sources.ready() ? "online" : "offline";
    if (state === this.#publishedState) return;
    this.#publishedState = state;
    this.sources.stateChanging();
    const message = centralMessage("bridge_state", this.sources.bridge(), state);
    this.central.publish(message, { qos: 1, retain: true }, (error) => {
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
      const message = centralMessage("bridge_state", this.sources.bridge(), "offline");
      this.central.publish(message, { qos: 1, retain: true }, () => {
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
    const message = centralMessage("bridge_outbox", this.sources.bridge(), {
      depth: entries,
      bytes,
      dropped,
      oldest: oldest === undefined ? null : new Date(oldest).toISOString(),
      durable,
      problem: problem ?? null,
    });
    if (message.payload === this.#publishedOutbox) return;
    this.#publishedOutbox = message.payload;
    this.central.publish(message, { qos: 1, retain: true });
  }

  /** Publishes `<root>/bridge/info` (retained). */
  publishInfo(): void {
    const info = this.sources.info(this.now());
    const message = centralMessage("bridge_info", this.sources.bridge(), info);
    publishDirect(this.central, this.log, message, true);
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
    const meters = centralMessage("bridge_meters", this.sources.bridge(), this.sources.statuses());
    if (meters.payload !== this.#publishedMeters) {
      this.#publishedMeters = meters.payload;
      publishDirect(this.central, this.log, meters, true);
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
    const message = centralMessage("status", { root: this.sources.root(), id }, status);
    publishDirect(this.central, this.log, message, true);
    return 1;
  }
}
