/**
 * The proxy: raw readings from the internal broker in, clean per-meter topics
 * on the central broker out. All decisions are made by the pure
 * {@link ReadingPipeline}; this module only moves messages and keeps
 * `<root>/bridge/state` truthful.
 *
 * Delivery is at least once, end to end: the internal subscription is a
 * persistent session (QoS 1, `clean: false`), and a reading is acknowledged
 * to the internal broker only when its publications are in the durable
 * {@link Outbox} (or, with `outbox.enabled: false`, acknowledged by central).
 * The outbox sends them to central with QoS 1, in order per topic.
 *
 * @module
 */
import type { IPublishPacket } from "mqtt";
import type { Config } from "../config/schema.ts";
import { logger } from "../logging/setup.ts";
import { LogRateLimiter } from "../logging/rate_limit.ts";
import { BrokerConnection } from "../mqtt/broker_connection.ts";
import { MeterClock } from "../protocol/meter_time.ts";
import {
  announcementFilter,
  type BridgeState,
  bridgeStateTopic,
  MeterAnnouncement,
  outboxStatusTopic,
} from "../protocol/topics.ts";
import { READING_TOPICS } from "../protocol/uplink.ts";
import type { MeterId } from "../protocol/meter_id.ts";
import { deferAcks } from "../mqtt/deferred_ack.ts";
import { Outbox, type OutboxStatus } from "../outbox/outbox.ts";
import type { Publication } from "../outbox/outbox_store.ts";
import { openOutboxStore } from "../outbox/open_outbox_store.ts";
import { type PipelineEvent, type PipelineOptions, ReadingPipeline } from "./pipeline.ts";
import type { EmitEvent } from "../supervisor/worker_runtime.ts";
import { ProxyStats, type ProxyStatsSnapshot } from "./proxy_stats.ts";

const log = logger("proxy");

function pipelineOptions(config: Config): PipelineOptions {
  return {
    root: config.topics.root,
    retainReadings: config.topics.retain_readings,
    meters: config.meters,
    limits: config.limits,
    clock: new MeterClock(config.meters.timezone),
  };
}

/** How often incomplete split readings are checked for expiry. */
const EXPIRY_CHECK_MS = 5000;

/** How often the outbox is checked for entries past `outbox.max_age_hours`. */
const OUTBOX_EXPIRY_CHECK_MS = 60_000;

/** How often `<root>/bridge/outbox` is refreshed when the outbox changed. */
const OUTBOX_STATUS_MS = 1000;

/** Moves readings from the internal to the central broker. */
export class Proxy {
  readonly stats: ProxyStats = new ProxyStats();
  #config: Config;
  readonly #pipeline: ReadingPipeline;
  readonly #central: BrokerConnection;
  readonly #internal: BrokerConnection;
  readonly #logLimiter = new LogRateLimiter(10, 60_000);
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  #internalSubscribed = false;
  #publishedState: BridgeState | undefined;
  readonly #outbox: Outbox;
  #publishedOutboxStatus = "";
  #stopping = false;

  constructor(config: Config, readonly emit: EmitEvent = () => {}) {
    this.#config = config;
    this.#pipeline = new ReadingPipeline(pipelineOptions(config));
    const stateTopic = bridgeStateTopic(config.topics.root);
    const store = openOutboxStore(config);
    this.#pipeline.restoreMeterStates(store.meterStates());
    this.#outbox = new Outbox({
      store,
      maxEntries: config.outbox.max_entries,
      maxBytes: config.outbox.max_megabytes * 1024 * 1024,
      maxAgeMs: config.outbox.max_age_hours * 3_600_000,
      maxMeterStates: config.limits.max_meters,
      drainRatePerSecond: config.outbox.drain_rate_per_second,
      publish: (entry, done) =>
        this.#central.client.publish(
          entry.topic,
          entry.payload,
          { qos: 1, retain: entry.retain },
          (error) => done(error ?? undefined),
        ),
      onDelivered: (entry) =>
        entry.topic.startsWith(`${this.#config.topics.root}/discovery/`)
          ? this.stats.announced()
          : this.stats.published(),
      onDropped: (count, cause) => this.#onOutboxDropped(count, cause),
      meterState: (id) => this.#pipeline.meterState(id as MeterId),
    });
    const backlog = this.#outbox.status();
    if (backlog.entries > 0) {
      log.info("Outbox holds {entries} readings from before the restart; delivering them", {
        entries: backlog.entries,
      });
    }
    this.#central = new BrokerConnection({
      name: "central",
      broker: config.central_broker,
      clientId: `${config.central_broker.client_id}-proxy-central`,
      will: { topic: stateTopic, payload: "offline", qos: 1, retain: true },
      // The outbox sends again what was in flight, keeping each meter's order.
      resendAfterReconnect: false,
      log,
    });
    this.#internal = new BrokerConnection({
      name: "internal",
      broker: config.internal_broker,
      clientId: `${config.internal_broker.client_id}-proxy-internal`,
      // The internal broker keeps readings for the bridge while it is away.
      clean: false,
      log,
    });
    this.#central.client.on("connect", () => this.#onCentralConnect());
    this.#central.client.on("close", () => {
      this.#publishedState = undefined;
      this.#publishedOutboxStatus = "";
      this.#outbox.setConnected(false);
    });
    this.#central.client.on("message", (topic, payload) => this.#onAnnouncement(topic, payload));
    this.#internal.client.on("connect", () => this.#onInternalConnect());
    this.#internal.client.on("close", () => {
      this.#internalSubscribed = false;
      this.#updateState();
    });
    deferAcks(this.#internal.client, (packet, ack) => this.#onReading(packet, ack));
    this.#timers.push(
      setInterval(() => this.#apply(this.#pipeline.expire(Date.now())), EXPIRY_CHECK_MS),
      setInterval(() => this.#outbox.expire(), OUTBOX_EXPIRY_CHECK_MS),
      setInterval(() => this.#publishOutboxStatus(), OUTBOX_STATUS_MS),
    );
    const statsSeconds = config.logging.stats_interval_seconds;
    if (statsSeconds > 0) {
      this.#timers.push(setInterval(() => this.#logStats(), statsSeconds * 1000));
    }
  }

  #onCentralConnect(): void {
    const filter = announcementFilter(this.#config.topics.root);
    this.#central.client.subscribe(filter, { qos: 1 }, (error) => {
      if (error) {
        log.error("Subscribing to {filter} failed: {error}", { filter, error: error.message });
      }
    });
    this.#outbox.setConnected(true);
    this.#updateState();
    this.#publishOutboxStatus();
  }

  #onInternalConnect(): void {
    const topics = Object.keys(READING_TOPICS);
    this.#internal.client.subscribe(topics, { qos: 1 }, (error, granted) => {
      const refused = granted?.filter((g) => g.qos === 128).map((g) => g.topic) ?? [];
      if (error || refused.length > 0) {
        log.error("Internal broker refused subscriptions {topics}: {error}", {
          topics: refused.length > 0 ? refused : topics,
          error: error?.message ?? "not authorized",
        });
        return;
      }
      this.#internalSubscribed = true;
      log.info("Subscribed to {topics} on the internal broker", { topics });
      this.#updateState();
    });
  }

  /** `online` only when readings can flow: both brokers up and subscriptions granted. */
  #updateState(): void {
    if (this.#stopping || !this.#central.connected) return;
    const state: BridgeState = this.#internalSubscribed ? "online" : "offline";
    if (state === this.#publishedState) return;
    this.#publishedState = state;
    this.#central.client.publish(
      bridgeStateTopic(this.#config.topics.root),
      state,
      { qos: 1, retain: true },
      (error) => {
        if (error) {
          log.warn("Publishing bridge state failed: {error}", { error: error.message });
          return;
        }
        log.info("Bridge state {state}", { state });
      },
    );
  }

  #onAnnouncement(topic: string, payload: Uint8Array): void {
    if (payload.byteLength === 0) return;
    try {
      const parsed = MeterAnnouncement.safeParse(JSON.parse(new TextDecoder().decode(payload)));
      if (parsed.success) this.#pipeline.rememberAnnouncement(parsed.data);
    } catch {
      log.debug("Ignoring unreadable retained announcement on {topic}", { topic });
    }
  }

  #onReading(packet: IPublishPacket, ack: () => void): void {
    // Not acknowledged: the internal broker sends it again to the next session.
    if (this.#stopping) return;
    this.stats.received();
    const events = this.#pipeline.handle(
      packet.topic,
      packet.payload as Uint8Array,
      Date.now(),
      packet.dup,
    );
    this.#apply(events, packet.topic, ack);
  }

  /**
   * Carries out the pipeline's events. `ack` acknowledges the message they
   * came from; it is called once its publications are accepted by the outbox.
   * A packet of a split reading that is not complete yet is acknowledged at
   * once: holding it would hold a slot of the internal broker's in-flight
   * window (20 by default) for up to `limits.reassembly_max_age_seconds`, and
   * enough of them would stop the flow.
   */
  #apply(events: PipelineEvent[], topic?: string, ack?: () => void): void {
    const publications: Publication[] = [];
    const meterIds = new Set<string>();
    for (const event of events) {
      switch (event.type) {
        case "publish": {
          publications.push({ topic: event.topic, payload: event.payload, retain: event.retain });
          meterIds.add(event.id);
          break;
        }
        case "announce":
          publications.push({
            topic: event.topic,
            payload: JSON.stringify(event.announcement),
            retain: true,
          });
          log.info("New meter {id} ({model}) found", event.announcement);
          break;
        case "rejected":
          this.stats.rejected(event.code);
          this.#warnLimited(event.code, "Rejected {topic} message ({code}): {reason}", {
            topic: JSON.stringify(topic ?? ""),
            code: event.code,
            reason: event.reason,
          });
          break;
        case "dropped":
          this.stats.dropped(event.code);
          if (event.code === "energy_regression") {
            this.#warnLimited(event.code, "Dropped {level} reading of {id}: {reason}", event);
          } else {
            log.debug("Dropped {level} reading of {id} ({code}): {reason}", event);
          }
          break;
        case "incomplete":
          this.stats.incomplete();
          this.#warnLimited(
            "incomplete",
            "Gave up split {level} reading of {id} at {time} after {packets} packets ({cause})",
            event,
          );
          break;
        case "zero_confirmed":
          log.info(
            "Meter {id} reports zero {level} registers consistently: publishing them",
            event,
          );
          break;
        case "clock_drift":
          log.debug("Clock of {id} is off by {drift} s", {
            id: event.id,
            drift: event.driftSeconds,
          });
          this.emit({ type: "clock_drift", id: event.id, drift_seconds: event.driftSeconds });
          break;
        default:
          event satisfies never;
      }
    }
    if (publications.length > 0 || ack !== undefined) {
      this.#outbox.accept(publications, meterIds, ack ?? (() => {}));
    }
  }

  #onOutboxDropped(count: number, cause: "full" | "expired"): void {
    const { outbox } = this.#config;
    const status = this.#outbox.status();
    log.warn(
      cause === "full"
        ? "Outbox full: dropped the {count} oldest readings (outbox.max_entries {maxEntries}, " +
          "max_megabytes {maxMegabytes}); {dropped} dropped since start. Is the central broker " +
          "reachable?"
        : "Outbox: dropped {count} readings older than outbox.max_age_hours {maxAgeHours}; " +
          "{dropped} dropped since start",
      {
        count,
        maxEntries: outbox.max_entries,
        maxMegabytes: outbox.max_megabytes,
        maxAgeHours: outbox.max_age_hours,
        dropped: status.dropped,
      },
    );
  }

  /** Publishes `<root>/bridge/outbox` (retained) when the outbox changed. */
  #publishOutboxStatus(): void {
    if (!this.#central.connected) return;
    const { entries, bytes, dropped, oldest } = this.#outbox.status();
    const payload = JSON.stringify({
      depth: entries,
      bytes,
      dropped,
      oldest: oldest === undefined ? null : new Date(oldest).toISOString(),
      durable: this.#outbox.durable,
    });
    if (payload === this.#publishedOutboxStatus) return;
    this.#publishedOutboxStatus = payload;
    this.#central.client.publish(
      outboxStatusTopic(this.#config.topics.root),
      payload,
      { qos: 0, retain: true },
    );
  }

  /** Applies a new configuration's meter settings; broker changes need a restart. */
  reconfigure(config: Config): void {
    this.#config = config;
    this.#pipeline.reconfigure(pipelineOptions(config));
  }

  #warnLimited(key: string, message: string, properties: Record<string, unknown>): void {
    const suppressed = this.#logLimiter.admit(key, Date.now());
    if (suppressed === undefined) return;
    log.warn(suppressed > 0 ? `${message} ({suppressed} similar lines suppressed)` : message, {
      ...properties,
      suppressed,
    });
  }

  #logStats(): void {
    log.info("Stats: {stats}", { stats: this.statsSnapshot() });
  }

  /** Counters plus current gauges. */
  statsSnapshot(): ProxyStatsSnapshot & {
    pending_split_readings: number;
    meters: number;
    outbox: OutboxStatus;
  } {
    return {
      ...this.stats.snapshot(),
      pending_split_readings: this.#pipeline.pendingReadings,
      meters: this.#pipeline.announcedMeters,
      outbox: this.#outbox.status(),
    };
  }

  /**
   * Stops intake, acknowledges what the outbox accepted, waits (bounded) for
   * in-flight publishes, publishes `offline` and disconnects cleanly. What is
   * not delivered stays in the outbox (or, without a durable outbox, with the
   * internal broker) for the next start.
   */
  async stop(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.#stopping = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#outbox.flush();
    await this.#internal.stop({ timeoutMs: Math.min(1000, timeoutMs / 4) });
    const halfway = Date.now() + Math.max(0, (deadline - Date.now()) / 2);
    while (this.#outbox.inFlight > 0 && this.#central.connected && Date.now() < halfway) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    this.#outbox.close();
    if (this.#central.connected) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now() - 500));
        this.#central.client.publish(
          bridgeStateTopic(this.#config.topics.root),
          "offline",
          { qos: 1, retain: true },
          () => {
            clearTimeout(timer);
            resolve();
          },
        );
      });
    }
    await this.#central.stop({ timeoutMs: Math.max(100, deadline - Date.now()) });
    this.#logStats();
  }
}
