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
 * With replicas (`cluster.share_group`), the proxy subscribes to the meters'
 * topics as a member of a shared subscription and handles the meters the
 * broker routes to it: a meter's announcement names the replica that handles
 * it, and only that replica reports its availability, status and Home
 * Assistant discovery. Its own state, outbox, info and meter list move to
 * `<root>/bridge/replicas/<replica>/…`.
 *
 * @module
 */
import type { IPublishPacket } from "mqtt";
import denoJson from "../../deno.json" with { type: "json" };
import { type MeterSettings, meterSettings } from "../config/meter_settings.ts";
import type { Config } from "../config/schema.ts";
import { logger } from "../logging/setup.ts";
import { LogRateLimiter } from "../logging/rate_limit.ts";
import { BrokerConnection } from "../mqtt/broker_connection.ts";
import { MeterClock } from "../protocol/meter_time.ts";
import {
  announcementFilter,
  announcementTopic,
  type BridgeState,
  bridgeTopic,
  MeterAnnouncement,
  meterTopic,
  relaySetFilter,
} from "../protocol/topics.ts";
import { replicaTopic, sharedFilter } from "../protocol/cluster.ts";
import { ClusterLink } from "../cluster/cluster_link.ts";
import { clientId } from "../cluster/client_id.ts";
import { requestFilter } from "../protocol/bridge_api.ts";
import { parseJsonObject, validateUplink } from "../protocol/decode.ts";
import { type DiscoveryContext, discoveryFilter } from "../protocol/home_assistant.ts";
import { ioPayload } from "../protocol/io_state.ts";
import { isMeterId, type MeterId } from "../protocol/meter_id.ts";
import type { MeterStatus, RelayState } from "../protocol/meter_status.ts";
import type { BridgeEvent } from "../worker/messages.ts";
import {
  ACK_LATENCY_BUCKETS,
  type BridgeSnapshot,
  type WorkerState,
} from "../status/bridge_snapshot.ts";
import { bridgeInfo } from "./bridge_info.ts";
import { DiscoveryPublisher } from "./discovery_publisher.ts";
import { type AvailabilityChange, MeterRegistry } from "./meter_registry.ts";
import { RequestHandler } from "./request_handler.ts";
import { deferAcks } from "../mqtt/deferred_ack.ts";
import { type BridgeSession, proxyInternalSession } from "./internal_session.ts";
import { Outbox, type OutboxStatus } from "../outbox/outbox.ts";
import type { Publication } from "../outbox/outbox_store.ts";
import { openOutboxStore } from "../outbox/open_outbox_store.ts";
import type { OutboxProblem } from "../outbox/outbox_problem.ts";
import { type PipelineEvent, type PipelineOptions, ReadingPipeline } from "./pipeline.ts";
import type { EmitEvent, WorkerContext } from "../worker/worker_runtime.ts";
import { ProxyStats, type ProxyStatsSnapshot } from "./proxy_stats.ts";
import { PacedQueue } from "../runtime/paced_queue.ts";

const log = logger("proxy");

/** This replica's name when replicas share the meters (`cluster.share_group`). */
function replicaOf(config: Config): string | undefined {
  return config.cluster.share_group === "" ? undefined : config.cluster.replica;
}

/** `<root>/bridge/<leaf>`, or with replicas `<root>/bridge/replicas/<replica>/<leaf>`. */
function ownTopic(config: Config, leaf: string): string {
  const replica = replicaOf(config);
  return replica === undefined
    ? bridgeTopic(config.topics.root, leaf)
    : replicaTopic(config.topics.root, replica, leaf);
}

/** A filter as this proxy subscribes to it: shared among the replicas, if any. */
function shared(config: Config, filter: string): string {
  const group = config.cluster.share_group;
  return group === "" ? filter : sharedFilter(group, filter);
}

function pipelineOptions(config: Config): PipelineOptions {
  return {
    root: config.topics.root,
    retainReadings: config.topics.retain_readings,
    meters: config.meters,
    limits: config.limits,
    clock: new MeterClock(config.meters.timezone),
    replica: replicaOf(config),
  };
}

/** How often incomplete split readings are checked for expiry. */
const EXPIRY_CHECK_MS = 5000;

/** How often the outbox is checked for entries past `outbox.max_age_hours`. */
const OUTBOX_EXPIRY_CHECK_MS = 60_000;

/** How often `<root>/bridge/outbox` is refreshed when the outbox changed. */
const OUTBOX_STATUS_MS = 1000;

/** How often meters are checked for silence (availability). */
const AVAILABILITY_CHECK_MS = 1000;

/** How often the HTTP worker gets a new snapshot. */
const SNAPSHOT_MS = 2000;

/** How often paced publications (discovery, statuses) are sent. */
const PACE_MS = 200;

/** Statuses sent per second at least while a round of changed statuses goes out. */
const MIN_STATUS_RATE = 10;

/** Retained announcements count as in once none arrived for this long after subscribing. */
const ANNOUNCEMENTS_QUIET_MS = 500;

/** Readings are held at most this long after start for the announcements (central may be down). */
const ANNOUNCEMENTS_WAIT_MS = 10_000;

/**
 * Readings held at most while the announcements load. Unacknowledged QoS 1
 * readings are bounded by the broker's in-flight window anyway; QoS 0 ones
 * are not, hence the limit.
 */
const MAX_HELD_READINGS = 10_000;

const LEVELS: ReadonlySet<string> = new Set(["seconds", "minutes", "day"]);

function discoveryLimits(config: Config) {
  return {
    maxMeters: config.limits.max_meters,
    messagesPerSecond: config.homeassistant.discovery_rate_per_second,
  };
}

function discoveryContext(config: Config): DiscoveryContext {
  return {
    root: config.topics.root,
    prefix: config.homeassistant.discovery_prefix,
    version: denoJson.version,
    availabilityFactor: config.meters.availability_factor,
    stateTopic: ownTopic(config, "state"),
    infoTopic: ownTopic(config, "info"),
    replica: replicaOf(config),
  };
}

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
  /** What was wrong with the outbox at start, reported until acknowledged. */
  #outboxProblem: OutboxProblem | undefined;
  #stopping = false;
  readonly #startedAt = Date.now();
  readonly #registry: MeterRegistry;
  readonly #discovery: DiscoveryPublisher;
  readonly #requests: RequestHandler;
  readonly #ackLatency = { counts: ACK_LATENCY_BUCKETS.map(() => 0).concat(0), sum: 0, count: 0 };
  #workers: Readonly<Record<string, WorkerState>> = {};
  #publishedMeters = "";
  /** Events for workers in other processes, and theirs for this one. */
  readonly #link: ClusterLink;
  /** This replica's name with `cluster.share_group`; undefined for a bridge alone. */
  readonly #replica: string | undefined;
  /** Client id and filters on the internal broker (restart-only settings). */
  readonly #internalSession: BridgeSession;
  /**
   * Resolves once the announcements retained on central are in, so a reading
   * arriving first does not announce a known meter anew (a new `first_seen`,
   * or with replicas a claim of a meter another replica handles).
   */
  readonly #announcementsLoaded = Promise.withResolvers<void>();
  #lastAnnouncementAt = 0;
  #announcementsTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Readings that arrived before the announcements were in: a persistent
   * session hands over what it kept as soon as the bridge connects.
   */
  #held: Array<[IPublishPacket, () => void]> | undefined = [];
  #statusTimer: ReturnType<typeof setInterval>;
  /**
   * Statuses that changed, sent spread over one status interval: a fleet of
   * thousands changes every interval, and all at once would be a burst.
   */
  readonly #statusQueue: PacedQueue<MeterId>;

  /** Sends an event to the workers it is for, here or in another process. */
  readonly emit: EmitEvent;

  constructor(
    config: Config,
    emit: EmitEvent = () => {},
    context: WorkerContext = { remote: [] },
  ) {
    this.#config = config;
    this.#replica = replicaOf(config);
    this.#internalSession = proxyInternalSession(config);
    this.emit = (event) => {
      if (!this.#link.send(event)) emit(event);
    };
    this.#pipeline = new ReadingPipeline(pipelineOptions(config));
    this.#registry = new MeterRegistry(config.limits.max_meters, (id) => this.#settingsOf(id));
    this.#discovery = new DiscoveryPublisher(
      discoveryContext(config),
      {
        meters: () => this.#ownedIds(),
        known: (id) => this.#owns(id),
        excluded: (id) => this.#config.meters.exclude.includes(id),
        settings: (id) => this.#settingsOf(id),
        io: (id) => this.#registry.hasIo(id),
      },
      (topic, payload) => this.#publishDirect(topic, payload, true),
      discoveryLimits(config),
      Date.now(),
    );
    this.#statusQueue = new PacedQueue(
      { ratePerSecond: MIN_STATUS_RATE, burst: MIN_STATUS_RATE },
      (id) => this.#publishStatus(id),
      Date.now(),
    );
    this.#requests = new RequestHandler({
      config: () => this.#config,
      known: (id) => this.#pipeline.isKnown(id),
      health: () => this.#health(),
      emit: (event) => this.emit(event),
      publish: (topic, payload) => this.#publishDirect(topic, payload, false),
      relaySwitched: (id, state) => this.#relaySwitched(id, state),
      resetHistory: (id) => this.#resetHistory(id),
      acknowledgeOutboxProblem: () => this.#acknowledgeOutboxProblem(),
      outcome: (kind, response) => {
        if (response.status === "ok") log.info("Request {kind} answered", { kind });
        else log.warn("Request {kind} failed: {error}", { kind, error: response.error });
      },
    });
    const stateTopic = ownTopic(config, "state");
    const opened = openOutboxStore(config, {
      onRecordError: (error) =>
        this.#warnLimited(
          "outbox_record",
          "Cannot write the outbox record beside the outbox: {error}; the check at the next " +
            "start is less precise",
          { error: error.message },
        ),
    });
    for (const notice of opened.notices) log.warn("{notice}", { notice });
    this.#outboxProblem = opened.problem;
    if (opened.problem !== undefined) {
      log.error("{description}", {
        description: opened.problem.message,
        outbox_problem: opened.problem,
      });
    }
    const { store } = opened;
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
      onDelivered: (entry) => this.#delivered(entry.topic),
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
      clientId: clientId(config, "central_broker", "proxy-central"),
      will: { topic: stateTopic, payload: "offline", qos: 1, retain: true },
      // The outbox sends again what was in flight, keeping each meter's order.
      resendAfterReconnect: false,
      log,
    });
    this.#internal = new BrokerConnection({
      name: "internal",
      broker: config.internal_broker,
      clientId: this.#internalSession.clientId,
      // The internal broker keeps readings for the bridge while it is away.
      clean: false,
      log,
    });
    this.#link = new ClusterLink(
      this.#central.client,
      config.topics.root,
      "proxy",
      context.remote,
      (event) => this.onEvent(event),
      log,
    );
    this.#announcementsTimer = setTimeout(
      () => this.#announcementsLoaded.resolve(),
      ANNOUNCEMENTS_WAIT_MS,
    );
    this.#announcementsLoaded.promise.then(() => this.#releaseHeld());
    this.#central.client.on("connect", () => this.#onCentralConnect());
    this.#central.client.on("close", () => {
      this.#publishedState = undefined;
      this.#publishedOutboxStatus = "";
      this.#outbox.setConnected(false);
    });
    this.#central.client.on(
      "message",
      (topic, payload, packet) => this.#onCentralMessage(topic, payload, packet.retain),
    );
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
      setInterval(() => this.#checkAvailability(), AVAILABILITY_CHECK_MS),
      setInterval(() => this.emit({ type: "snapshot", snapshot: this.snapshot() }), SNAPSHOT_MS),
      setInterval(() => this.#pace(), PACE_MS),
    );
    this.#statusTimer = setInterval(
      () => this.#publishStatuses(),
      config.meters.status_interval_seconds * 1000,
    );
    const statsSeconds = config.logging.stats_interval_seconds;
    if (statsSeconds > 0) {
      this.#timers.push(setInterval(() => this.#logStats(), statsSeconds * 1000));
    }
  }

  #onCentralConnect(): void {
    const { root } = this.#config.topics;
    const { homeassistant } = this.#config;
    // Announcements first: discovery configurations retained on central are only
    // matched against meters already known.
    this.#subscribe([announcementFilter(root)], () => {
      this.#awaitQuietAnnouncements();
      // With replicas one of them takes each request.
      const requests = [requestFilter(root), relaySetFilter(root)];
      this.#subscribe([
        ...requests.map((filter) => shared(this.#config, filter)),
        ...this.#link.filters,
      ]);
      if (homeassistant.enabled) {
        this.#subscribe([
          discoveryFilter(homeassistant.discovery_prefix),
          homeassistant.status_topic,
        ]);
      }
    });
    this.#outbox.setConnected(true);
    const backlog = this.#outbox.backlog;
    if (backlog > 0) {
      const rate = this.#config.outbox.drain_rate_per_second;
      log.info(
        "Delivering the outbox backlog of {backlog} readings at {rate}/s (outbox.drain_rate_per_second), " +
          "new readings as they arrive: about {minutes} min",
        { backlog, rate, minutes: Math.ceil(backlog / rate / 60) },
      );
    }
    this.#updateState();
    this.#publishOutboxStatus();
    // The configuration flow runs elsewhere: it reports every meter's state again.
    this.#link.send({ type: "resync" });
    // The central broker may have lost retained state (restarted without persistence).
    for (const change of this.#registry.availabilities()) this.#publishAvailability(change);
    if (homeassistant.enabled) {
      this.#discovery.publishBridge(true);
      this.#discovery.publishAll(true);
    }
    this.#publishInfo();
    this.#publishedMeters = "";
  }

  /** Handles the readings held while the announcements loaded, in order. */
  #releaseHeld(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const [packet, ack] of held) this.#onReading(packet, ack);
  }

  /** Resolves `#announcementsLoaded` once no announcement arrived for a quiet spell. */
  #awaitQuietAnnouncements(): void {
    this.#lastAnnouncementAt = Date.now();
    const poll = () => {
      if (Date.now() - this.#lastAnnouncementAt >= ANNOUNCEMENTS_QUIET_MS || this.#stopping) {
        clearTimeout(this.#announcementsTimer);
        this.#announcementsLoaded.resolve();
      } else {
        this.#announcementsTimer = setTimeout(poll, 100);
      }
    };
    clearTimeout(this.#announcementsTimer);
    this.#announcementsTimer = setTimeout(poll, ANNOUNCEMENTS_QUIET_MS);
  }

  #subscribe(filters: string[], then?: () => void): void {
    this.#central.client.subscribe(filters, { qos: 1 }, (error, granted) => {
      const refused = granted?.filter((g) => g.qos === 128).map((g) => g.topic) ?? [];
      if (error || refused.length > 0) {
        log.error("Central broker refused subscriptions {filters}: {error}", {
          filters: refused.length > 0 ? refused : filters,
          error: error?.message ?? "not authorized",
        });
      }
      then?.();
    });
  }

  #onCentralMessage(topic: string, payload: Uint8Array, retained: boolean): void {
    const { root } = this.#config.topics;
    const { homeassistant } = this.#config;
    if (this.#link.onMessage(topic, payload)) return;
    if (topic.startsWith(`${root}/discovery/`)) {
      this.#onAnnouncement(topic, payload);
    } else if (topic.startsWith(`${root}/bridge/request/`)) {
      if (!retained) this.#requests.onRequest(topic, payload);
    } else if (topic.startsWith(`${root}/`) && topic.endsWith("/relay/set")) {
      // A retained switch command would switch the relay again at every restart.
      if (retained) {
        log.warn("Ignoring a retained {topic}: publish relay commands without retain", { topic });
      } else {
        this.#requests.onRelaySet(topic, payload);
      }
    } else if (topic === homeassistant.status_topic) {
      if (new TextDecoder().decode(payload).trim() === "online" && homeassistant.enabled) {
        log.info("Home Assistant is online; publishing discovery again");
        this.#discovery.publishBridge(true);
        this.#discovery.publishAll(true);
        for (const change of this.#registry.availabilities()) this.#publishAvailability(change);
      }
    } else if (homeassistant.enabled) {
      this.#discovery.onConfig(topic, payload);
    }
  }

  /** Publishes bridge state directly (not through the outbox): it is re-sent on reconnect. */
  #publishDirect(topic: string, payload: string, retain: boolean, qos: 0 | 1 = 1): void {
    if (!this.#central.connected) return;
    this.#central.client.publish(topic, payload, { qos, retain }, (error) => {
      if (error) log.warn("Publishing {topic} failed: {error}", { topic, error: error.message });
    });
  }

  #delivered(topic: string): void {
    const { root } = this.#config.topics;
    if (topic.startsWith(`${root}/discovery/`)) {
      this.stats.announced();
      return;
    }
    const level = topic.slice(topic.lastIndexOf("/") + 1);
    if (!LEVELS.has(level)) return;
    this.stats.published(level);
    this.#registry.delivered(topic.slice(root.length + 1, root.length + 14) as MeterId);
  }

  /** Whether this proxy handles the meter: every announced one, or with replicas its own. */
  #owns(id: MeterId): boolean {
    if (this.#replica === undefined) return this.#pipeline.isAnnounced(id);
    return this.#pipeline.ownerOf(id) === this.#replica;
  }

  *#ownedIds(): Iterable<MeterId> {
    for (const id of this.#pipeline.announcedIds()) if (this.#owns(id)) yield id;
  }

  #settingsOf(id: MeterId): MeterSettings {
    return meterSettings(this.#config.meters, id);
  }

  #publishAvailability(change: AvailabilityChange): void {
    this.#publishDirect(
      meterTopic(this.#config.topics.root, change.id, "availability"),
      change.availability,
      true,
    );
  }

  #checkAvailability(): void {
    for (const change of this.#registry.expire(Date.now())) {
      log.info("Meter {id} is offline: no reading for {seconds} s", {
        id: change.id,
        seconds: this.#settingsOf(change.id).availabilityTimeoutSeconds,
      });
      this.#publishAvailability(change);
    }
  }

  /** Forgets a meter's filter history, in memory and in the outbox (bridge API). */
  #resetHistory(id: MeterId): Record<string, unknown> {
    const forgotten = this.#pipeline.forgetHistory(id);
    this.#outbox.rewriteMeterState(id);
    log.warn(
      "Filter history of {id} cleared on request: its next readings are taken as they come",
      { id },
    );
    return { id, forgotten };
  }

  #relaySwitched(id: MeterId, state: RelayState): void {
    if (this.#owns(id)) this.#registry.relay(id, state, Date.now());
    this.#publishDirect(meterTopic(this.#config.topics.root, id, "relay"), state, true);
  }

  /** Sends what the paced queues allow now. */
  #pace(): void {
    if (!this.#central.connected) return;
    const now = Date.now();
    this.#discovery.drain(now);
    this.#statusQueue.drain(now);
  }

  /**
   * Queues the statuses of meters that changed, to go out over the next
   * status interval, and publishes `bridge/meters` and `bridge/info`.
   */
  #publishStatuses(): void {
    if (!this.#central.connected) return;
    for (const id of this.#registry.takeChanged()) this.#statusQueue.add(id);
    const rate = Math.max(
      MIN_STATUS_RATE,
      Math.ceil(this.#statusQueue.size / this.#config.meters.status_interval_seconds),
    );
    this.#statusQueue.setRate({ ratePerSecond: rate, burst: rate });
    const meters = JSON.stringify(this.#statuses());
    if (meters !== this.#publishedMeters) {
      this.#publishedMeters = meters;
      this.#publishDirect(ownTopic(this.#config, "meters"), meters, true, 0);
    }
    this.#publishInfo();
  }

  #publishStatus(id: MeterId): number {
    const status = this.#registry.status(id);
    if (status === undefined) return 0;
    const topic = meterTopic(this.#config.topics.root, id, "status");
    this.#publishDirect(topic, JSON.stringify(status), true, 0);
    return 1;
  }

  /** The listed meters' statuses (`limits.max_listed_meters`, the first by id). */
  #statuses(): MeterStatus[] {
    if (this.#outbox.status().entries === 0) this.#registry.outboxEmpty();
    return this.#registry.statuses(this.#config.limits.max_listed_meters);
  }

  #publishInfo(): void {
    const info = bridgeInfo(
      this.#config,
      denoJson.version,
      this.#startedAt,
      Date.now(),
      { known: this.#registry.size, online: this.#registry.online },
    );
    this.#publishDirect(ownTopic(this.#config, "info"), JSON.stringify(info), true);
  }

  /**
   * The bridge API's `outbox/acknowledge`: the operator has seen the problem
   * (restored what could be, or accepted the loss); returns what it was.
   */
  #acknowledgeOutboxProblem(): OutboxProblem | undefined {
    const problem = this.#outboxProblem;
    if (problem === undefined) return undefined;
    this.#outboxProblem = undefined;
    log.warn("Outbox problem acknowledged ({kind} of {file}, found {since})", {
      kind: problem.kind,
      file: problem.file,
      since: problem.since,
    });
    this.#publishOutboxStatus();
    this.emit({ type: "snapshot", snapshot: this.snapshot() });
    return problem;
  }

  #health(): Record<string, unknown> {
    const brokers = { internal: this.#internalSubscribed, central: this.#central.connected };
    const workers = this.#workers;
    return {
      healthy: brokers.internal && brokers.central && this.#outboxProblem === undefined &&
        Object.values(workers).every((state) => state === "running"),
      brokers,
      workers,
      uptime_seconds: Math.round((Date.now() - this.#startedAt) / 1000),
      meters: this.#registry.size,
      meters_online: this.#registry.online,
      outbox_depth: this.#outbox.status().entries,
      outbox_problem: this.#outboxProblem ?? null,
    };
  }

  /** Events from the other workers and the supervisor. */
  onEvent(event: BridgeEvent): void {
    switch (event.type) {
      case "command_result":
      case "reload_result":
        this.#requests.onEvent(event);
        break;
      case "meter_config":
        if (isMeterId(event.id)) this.#registry.configured(event.id, event.summary);
        break;
      case "ack_latency": {
        const histogram = this.#ackLatency;
        const bucket = ACK_LATENCY_BUCKETS.findIndex((bound) => event.seconds <= bound);
        histogram.counts[bucket === -1 ? ACK_LATENCY_BUCKETS.length : bucket]++;
        histogram.sum += event.seconds;
        histogram.count++;
        break;
      }
      case "workers": {
        const started = event.workers.http === "running" && this.#workers.http !== "running";
        this.#workers = event.workers;
        // An HTTP worker that just started has seen no snapshot: readiness need not wait for one.
        if (started) this.emit({ type: "snapshot", snapshot: this.snapshot() });
        break;
      }
    }
  }

  /** The whole bridge as the proxy sees it, for the HTTP worker. */
  snapshot(): BridgeSnapshot {
    const counts = this.stats.snapshot();
    const outbox = this.#outbox.status();
    return {
      version: denoJson.version,
      started_at: new Date(this.#startedAt).toISOString(),
      taken_at: new Date().toISOString(),
      brokers: { internal: this.#internalSubscribed, central: this.#central.connected },
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
        depth: outbox.entries,
        bytes: outbox.bytes,
        dropped: outbox.dropped,
        durable: this.#outbox.durable,
        problem: this.#outboxProblem ?? null,
      },
      meter_counts: { known: this.#registry.size, online: this.#registry.online },
      meters: this.#statuses(),
    };
  }

  #onInternalConnect(): void {
    const topics = [...this.#internalSession.filters];
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
    // Readiness follows at once, not with the next periodic snapshot.
    this.emit({ type: "snapshot", snapshot: this.snapshot() });
    this.#central.client.publish(
      ownTopic(this.#config, "state"),
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
    if (payload.byteLength === 0) {
      // Cleared by the user: the meter is removed, with its Home Assistant device.
      const id = topic.slice(topic.lastIndexOf("/") + 1);
      if (!isMeterId(id) || !this.#pipeline.isAnnounced(id)) return;
      if (this.#config.homeassistant.enabled) this.#discovery.remove(id);
      for (const leaf of ["availability", "status", "io", "relay"]) {
        this.#publishDirect(meterTopic(this.#config.topics.root, id, leaf), "", true);
      }
      this.#pipeline.forgetAnnouncement(id);
      this.#registry.forget(id);
      log.info("Meter {id} removed (announcement cleared)", { id });
      return;
    }
    let announcement: MeterAnnouncement;
    try {
      const parsed = MeterAnnouncement.safeParse(JSON.parse(new TextDecoder().decode(payload)));
      if (!parsed.success) return;
      announcement = parsed.data;
    } catch {
      log.debug("Ignoring unreadable retained announcement on {topic}", { topic });
      return;
    }
    const id = announcement.id as MeterId;
    this.#lastAnnouncementAt = Date.now();
    if (this.#replica !== undefined && this.#pipeline.isStale(announcement)) {
      // An older claim (delayed in another replica's outbox, or retained from before) must not
      // stay retained over this replica's own: it would mislead the next replica to start.
      if (this.#owns(id)) this.#reassertClaim(id);
      return;
    }
    this.#pipeline.rememberAnnouncement(announcement);
    if (this.#replica === undefined || announcement.bridge === this.#replica) {
      this.#registry.remember(id, Date.now());
    } else {
      this.#handOver(id, announcement.bridge);
    }
  }

  /** Publishes this replica's claim of a meter again, over an older one. */
  #reassertClaim(id: MeterId): void {
    const announcement = this.#pipeline.announcementOf(id);
    if (announcement === undefined) return;
    this.#publishDirect(
      announcementTopic(this.#config.topics.root, id),
      JSON.stringify(announcement),
      true,
    );
  }

  /**
   * Another replica took a meter over (the broker routes it there now): this
   * one stops reporting its availability, status and discovery.
   */
  #handOver(id: MeterId, to: string | undefined): void {
    if (this.#registry.has(id)) {
      this.#warnLimited(
        "handover",
        "Meter {id} is handled by replica {to} now; a meter moves when the replicas of the " +
          "shared subscription change, and on every reading if the broker does not route each " +
          "meter to one replica (docs/scaling.md)",
        { id, to: to ?? "(none)" },
      );
    }
    this.#registry.forget(id);
    this.#discovery.forget(id);
  }

  #onReading(packet: IPublishPacket, ack: () => void): void {
    // Not acknowledged: the internal broker sends it again to the next session.
    if (this.#stopping) return;
    if (this.#held !== undefined) {
      this.#held.push([packet, ack]);
      if (this.#held.length >= MAX_HELD_READINGS) this.#releaseHeld();
      return;
    }
    this.stats.received(packet.topic);
    if (packet.topic === "MQTT_TELEIND") {
      this.#onIo(packet.payload as Uint8Array, ack);
      return;
    }
    // A retained reading is handed over at every (re)subscribe: like a redelivery, it is not news.
    const replayed = packet.dup ? "redelivered" : packet.retain ? "retained" : undefined;
    const events = this.#pipeline.handle(
      packet.topic,
      packet.payload as Uint8Array,
      Date.now(),
      replayed,
    );
    this.#apply(events, packet.topic, ack);
  }

  /** Digital I/O of a meter: published retained on `<root>/<id>/io` and `…/relay`. */
  #onIo(payload: Uint8Array, ack: () => void): void {
    const json = parseJsonObject(payload, this.#config.limits.max_payload_bytes);
    const decoded = json.ok ? validateUplink("MQTT_TELEIND", json.value) : json;
    if (!decoded.ok) {
      this.#apply(
        [{ type: "rejected", code: decoded.code, reason: decoded.reason }],
        "MQTT_TELEIND",
        ack,
      );
      return;
    }
    const id = decoded.payload.id as MeterId;
    if (this.#config.meters.exclude.includes(id)) {
      this.stats.dropped("excluded");
      ack();
      return;
    }
    const now = Date.now();
    const admission = this.#pipeline.admit(id, now);
    if (!admission.admitted) {
      const { code, reason } = admission;
      this.#apply([{ type: "rejected", code, reason }], "MQTT_TELEIND", ack);
      return;
    }
    const io = ioPayload(decoded.payload.value);
    const first = this.#owns(id) && this.#registry.io(id, io, now);
    const { root } = this.#config.topics;
    this.#outbox.accept(
      [
        { topic: meterTopic(root, id, "io"), payload: JSON.stringify(io), retain: true },
        { topic: meterTopic(root, id, "relay"), payload: io.do1, retain: true },
      ],
      new Set(),
      ack,
    );
    if (first && this.#config.homeassistant.enabled) this.#discovery.publishMeter(id);
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
    const now = Date.now();
    const seen = new Set<MeterId>();
    /** Meters announced (or claimed) by these events: their discovery follows. */
    const announced: MeterId[] = [];
    for (const event of events) {
      switch (event.type) {
        case "publish": {
          publications.push({ topic: event.topic, payload: event.payload, retain: event.retain });
          meterIds.add(event.id);
          seen.add(event.id);
          this.#registry.published(event.id, event.level, event.payload, event.driftSeconds, now);
          break;
        }
        case "announce":
          publications.push({
            topic: event.topic,
            payload: JSON.stringify(event.announcement),
            retain: true,
          });
          announced.push(event.announcement.id as MeterId);
          if (event.claim) {
            log.debug("Meter {id} is handled by this replica ({bridge}) now", event.announcement);
          } else {
            log.info("New meter {id} ({model}) found", event.announcement);
          }
          break;
        case "rejected":
          this.stats.rejected(event.code);
          this.#warnLimited(event.code, "Rejected {topic} message ({code}): {reason}", {
            topic: JSON.stringify(topic ?? ""),
            code: event.code,
            reason: event.reason,
          });
          break;
        case "implausible":
          this.stats.rejected(event.code);
          if (this.#owns(event.id)) {
            seen.add(event.id);
            this.#registry.implausible(event.id, event.reason);
          }
          this.#warnLimited(
            event.code,
            "Rejected {level} reading of {id} ({code}): {reason}",
            event,
          );
          break;
        case "register_reset":
          this.stats.registerReset();
          if (this.#owns(event.id)) this.#registry.reset(event.id, event.level, event.reset, now);
          log.warn(
            "Meter {id}: register {register} restarted from {from} at {to} ({level} level) and " +
              "went on consistently; accepted as a register reset",
            { id: event.id, level: event.level, ...event.reset },
          );
          break;
        case "dropped":
          this.stats.dropped(event.code);
          // Only meters this bridge handles: not ids that only ever send zeros, and with replicas
          // not a meter another replica took over (a redelivered copy reaching this one).
          if (event.code !== "excluded" && this.#owns(event.id)) {
            seen.add(event.id);
            this.#registry.dropped(event.id, event.code);
          }
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
    for (const id of seen) {
      const change = this.#registry.seen(id, now);
      if (change === undefined) continue;
      this.#publishAvailability(change);
      if (this.#config.homeassistant.enabled) this.#discovery.publishMeter(id);
    }
    // A meter may come online with a reading that is not published (a zero burst, a repeat):
    // it is discovered with the first one that announces it.
    if (this.#config.homeassistant.enabled) {
      for (const id of announced) this.#discovery.publishMeter(id);
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
      problem: this.#outboxProblem ?? null,
    });
    if (payload === this.#publishedOutboxStatus) return;
    this.#publishedOutboxStatus = payload;
    this.#central.client.publish(ownTopic(this.#config, "outbox"), payload, {
      qos: 0,
      retain: true,
    });
  }

  /** Applies a new configuration's meter settings; broker changes need a restart. */
  reconfigure(config: Config): void {
    const statusSeconds = this.#config.meters.status_interval_seconds;
    this.#config = config;
    if (config.meters.status_interval_seconds !== statusSeconds) {
      clearInterval(this.#statusTimer);
      this.#statusTimer = setInterval(
        () => this.#publishStatuses(),
        config.meters.status_interval_seconds * 1000,
      );
    }
    this.#pipeline.reconfigure(pipelineOptions(config));
    this.#registry.maxMeters = config.limits.max_meters;
    this.#discovery.context = discoveryContext(config);
    this.#discovery.setLimits(discoveryLimits(config));
    // Changed fields, names or exclusions change entities; unchanged ones are not re-sent.
    if (config.homeassistant.enabled) {
      this.#discovery.publishBridge(false);
      this.#discovery.publishAll(false);
    }
    this.#publishInfo();
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
    clearInterval(this.#statusTimer);
    clearTimeout(this.#announcementsTimer);
    this.#announcementsLoaded.resolve();
    this.#requests.close();
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
          ownTopic(this.#config, "state"),
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
