/**
 * The proxy: raw readings from the internal broker in, clean per-meter topics
 * on the central broker out. All decisions are made by the pure
 * {@link ReadingPipeline}; this module only moves messages and keeps
 * `<root>/bridge/state` truthful.
 *
 * @module
 */
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
} from "../protocol/topics.ts";
import { READING_TOPICS } from "../protocol/uplink.ts";
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
  #inFlight = 0;
  #drained: (() => void) | undefined;
  #stopping = false;

  constructor(config: Config, readonly emit: EmitEvent = () => {}) {
    this.#config = config;
    this.#pipeline = new ReadingPipeline(pipelineOptions(config));
    const stateTopic = bridgeStateTopic(config.topics.root);
    this.#central = new BrokerConnection({
      name: "central",
      broker: config.central_broker,
      clientId: `${config.central_broker.client_id}-proxy-central`,
      will: { topic: stateTopic, payload: "offline", qos: 1, retain: true },
      log,
    });
    this.#internal = new BrokerConnection({
      name: "internal",
      broker: config.internal_broker,
      clientId: `${config.internal_broker.client_id}-proxy-internal`,
      log,
    });
    this.#central.client.on("connect", () => this.#onCentralConnect());
    this.#central.client.on("close", () => this.#publishedState = undefined);
    this.#central.client.on("message", (topic, payload) => this.#onAnnouncement(topic, payload));
    this.#internal.client.on("connect", () => this.#onInternalConnect());
    this.#internal.client.on("close", () => {
      this.#internalSubscribed = false;
      this.#updateState();
    });
    this.#internal.client.on("message", (topic, payload) => this.#onReading(topic, payload));
    this.#timers.push(
      setInterval(() => this.#apply(this.#pipeline.expire(Date.now())), EXPIRY_CHECK_MS),
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
    this.#updateState();
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

  #onReading(topic: string, payload: Uint8Array): void {
    if (this.#stopping) return;
    this.stats.received();
    this.#apply(this.#pipeline.handle(topic, payload, Date.now()), topic);
  }

  #apply(events: PipelineEvent[], topic?: string): void {
    for (const event of events) {
      switch (event.type) {
        case "publish":
          this.#publish(event.topic, event.payload, event.retain, () => this.stats.published());
          break;
        case "announce":
          this.#publish(event.topic, JSON.stringify(event.announcement), true, () => {
            this.stats.announced();
            log.info("New meter {id} ({model}) announced", event.announcement);
          });
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

  #publish(topic: string, payload: string, retain: boolean, onAck: () => void): void {
    this.#inFlight++;
    this.#central.client.publish(topic, payload, { qos: 1, retain }, (error) => {
      if (error) {
        this.stats.publishFailed();
        log.warn("Publishing {topic} failed: {error}", { topic, error: error.message });
      } else {
        onAck();
      }
      if (--this.#inFlight === 0) this.#drained?.();
    });
  }

  #logStats(): void {
    log.info("Stats: {stats}", { stats: this.statsSnapshot() });
  }

  /** Counters plus current gauges. */
  statsSnapshot(): ProxyStatsSnapshot & { pending_split_readings: number; meters: number } {
    return {
      ...this.stats.snapshot(),
      pending_split_readings: this.#pipeline.pendingReadings,
      meters: this.#pipeline.announcedMeters,
    };
  }

  /**
   * Stops intake, waits (bounded) for in-flight publishes, publishes
   * `offline` and disconnects cleanly.
   */
  async stop(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.#stopping = true;
    for (const timer of this.#timers) clearInterval(timer);
    await this.#internal.stop({ timeoutMs: Math.min(1000, timeoutMs / 4) });
    if (this.#inFlight > 0 && this.#central.connected) {
      await Promise.race([
        new Promise<void>((resolve) => this.#drained = resolve),
        new Promise((resolve) => setTimeout(resolve, Math.max(0, (deadline - Date.now()) / 2))),
      ]);
    }
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
