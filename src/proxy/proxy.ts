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
import denoJson from "../../deno.json" with { type: "json" };
import { type MeterSettings, meterSettings } from "../config/meter_settings.ts";
import type { Config } from "../config/schema.ts";
import { logger } from "../logging/setup.ts";
import { LogRateLimiter, warnLimited } from "../logging/rate_limit.ts";
import type { CentralMessage } from "../protocol/central_message.ts";
import { ClusterLink } from "../cluster/cluster_link.ts";
import { isMeterId, type MeterId } from "../protocol/meter_id.ts";
import type { BridgeEvent } from "../worker/messages.ts";
import type { BridgeSnapshot } from "../status/bridge_snapshot.ts";
import { bridgeInfo } from "./bridge_info.ts";
import { DiscoveryPublisher } from "./discovery_publisher.ts";
import { MeterRegistry } from "./meter_registry.ts";
import { RequestHandler } from "./request_handler.ts";
import { ReadingPipeline } from "./pipeline.ts";
import type { EmitEvent, WorkerContext } from "../worker/worker_runtime.ts";
import { ProxyStats } from "./proxy_stats.ts";
import { type Clock, publishDirect } from "./central_port.ts";
import { ProxyConnections } from "./proxy_connections.ts";
import { type CentralMessage as ReceivedMessage, routeCentralMessage } from "./central_router.ts";
import { BridgeStatus } from "./bridge_status.ts";
import { ProxySnapshot } from "./proxy_snapshot.ts";
import { ReplicaOwnership } from "./replica_ownership.ts";
import { MeterAvailability } from "./availability.ts";
import { ReadingFlow } from "./reading_flow.ts";
import { ProxyOutbox } from "./proxy_outbox.ts";
import {
  discoveryContext,
  discoveryLimits,
  ownBridge,
  pipelineOptions,
  replicaOf,
} from "./proxy_settings.ts";
import { subscribeCentral } from "./proxy_subscriptions.ts";
import { ReadingIntake } from "./reading_intake.ts";
import { ProxyTimers } from "./proxy_timers.ts";

const log = logger("proxy");

/** The proxy's clock. */
const now: Clock = () => Date.now();

/** Moves readings from the internal to the central broker. */
export class Proxy {
  readonly stats: ProxyStats = new ProxyStats();
  #config: Config;
  readonly #pipeline: ReadingPipeline;
  readonly #connections: ProxyConnections;
  readonly #warnLimited = warnLimited(log, new LogRateLimiter(10, 60_000), now);
  readonly #timers: ProxyTimers;
  readonly #outbox: ProxyOutbox;
  #stopping = false;
  readonly #startedAt = now();
  readonly #registry: MeterRegistry;
  readonly #discovery: DiscoveryPublisher;
  readonly #requests: RequestHandler;
  readonly #status: BridgeStatus;
  readonly #snapshot: ProxySnapshot;
  readonly #ownership: ReplicaOwnership;
  readonly #availability: MeterAvailability;
  readonly #flow: ReadingFlow;
  readonly #intake: ReadingIntake;
  /** Events for workers in other processes, and theirs for this one. */
  readonly #link: ClusterLink;

  /** Sends an event to the workers it is for, here or in another process. */
  readonly emit: EmitEvent;

  constructor(config: Config, emit: EmitEvent = () => {}, context: WorkerContext = { remote: [] }) {
    this.#config = config;
    this.emit = (event) => {
      if (!this.#link.send(event)) emit(event);
    };
    const direct = (message: CentralMessage, retain: boolean) =>
      publishDirect(this.#connections.centralPort, log, message, retain);
    this.#pipeline = new ReadingPipeline(pipelineOptions(config));
    this.#registry = new MeterRegistry(config.limits.max_meters, (id) => this.#settingsOf(id));
    this.#ownership = new ReplicaOwnership(
      replicaOf(config),
      this.#pipeline,
      this.#registry,
      {
        root: () => this.#config.topics.root,
        homeAssistantEnabled: () => this.#config.homeassistant.enabled,
        publish: (message) => direct(message, true),
        removeDiscovery: (id) => this.#discovery.remove(id),
        forgetDiscovery: (id) => this.#discovery.forget(id),
        warnLimited: this.#warnLimited,
      },
      now,
      log,
    );
    this.#discovery = new DiscoveryPublisher(
      discoveryContext(config),
      {
        meters: () => this.#ownership.ownedIds(),
        known: (id) => this.#ownership.owns(id),
        excluded: (id) => this.#config.meters.exclude.includes(id),
        settings: (id) => this.#settingsOf(id),
        io: (id) => this.#registry.hasIo(id),
      },
      (message) => direct(message, true),
      discoveryLimits(config),
      now(),
    );
    this.#availability = new MeterAvailability(
      () => this.#config.topics.root,
      this.#registry,
      (id) => this.#settingsOf(id),
      (message) => direct(message, true),
      log,
    );
    this.#requests = new RequestHandler({
      config: () => this.#config,
      known: (id) => this.#pipeline.isKnown(id),
      health: () => this.#snapshot.health(),
      emit: (event) => this.emit(event),
      publish: (message) => direct(message, false),
      relaySwitched: (id, state) => this.#flow.relaySwitched(id, state),
      resetHistory: (id) => this.#outbox.resetHistory(id, this.#pipeline),
      acknowledgeOutboxProblem: () => this.#acknowledgeOutboxProblem(),
      outcome: (kind, response) => {
        if (response.status === "ok") log.info("Request {kind} answered", { kind });
        else log.warn("Request {kind} failed: {error}", { kind, error: response.error });
      },
    });
    this.#outbox = ProxyOutbox.open(
      () => this.#config,
      {
        publish: (entry, done) => this.#connections.deliver(entry, done),
        onDelivered: (entry) => this.#flow.delivered(entry.topic),
        meterState: (id) => this.#pipeline.meterState(id as MeterId),
      },
      (states) => this.#pipeline.restoreMeterStates(states),
      log,
      this.#warnLimited,
    );
    this.#connections = new ProxyConnections(config, {
      centralConnected: () => this.#onCentralConnect(),
      centralClosed: () => {
        this.#status.disconnected();
        this.#outbox.outbox.setConnected(false);
      },
      centralMessage: (message) => this.#onCentralMessage(message),
      readyChanged: () => this.#status.updateState(),
      internalMessage: (packet, ack) => this.#intake.onMessage(packet, ack),
    }, log);
    const central = this.#connections.central;
    this.#snapshot = new ProxySnapshot({
      version: denoJson.version,
      startedAt: this.#startedAt,
      brokers: () => ({ internal: this.#connections.readingsFlow, central: central.connected }),
      counts: () => this.stats.snapshot(),
      outbox: () => this.#outbox.report(),
      meterCounts: () => ({ known: this.#registry.size, online: this.#registry.online }),
      statuses: () => this.#statuses(),
    }, now);
    this.#status = new BridgeStatus(
      this.#connections.centralPort,
      {
        bridge: () => ownBridge(this.#config),
        root: () => this.#config.topics.root,
        statusIntervalSeconds: () => this.#config.meters.status_interval_seconds,
        ready: () => this.#connections.ready,
        stopping: () => this.#stopping,
        outbox: () => this.#outbox.report(),
        takeChanged: () => this.#registry.takeChanged(),
        status: (id) => this.#registry.status(id),
        statuses: () => this.#statuses(),
        info: (at) =>
          bridgeInfo(this.#config, denoJson.version, this.#startedAt, at, {
            known: this.#registry.size,
            online: this.#registry.online,
          }),
        // Readiness follows at once, not with the next periodic snapshot.
        stateChanging: () => this.#emitSnapshot(),
      },
      now,
      log,
    );
    this.#flow = new ReadingFlow(
      {
        config: () => this.#config,
        stats: this.stats,
        pipeline: this.#pipeline,
        registry: this.#registry,
        owns: (id) => this.#ownership.owns(id),
        publishRetained: (message) => direct(message, true),
        accept: (publications, meterIds, ack) =>
          this.#outbox.outbox.accept(publications, meterIds, ack),
        discoverMeter: (id) => this.#discovery.publishMeter(id),
        availabilityChanged: (change) => this.#availability.publishChange(change),
        emit: (event) => this.emit(event),
        warnLimited: this.#warnLimited,
      },
      now,
      log,
    );
    this.#link = new ClusterLink(
      central.client,
      config.topics.root,
      "proxy",
      context.remote,
      (event) => this.onEvent(event),
      log,
    );
    this.#intake = new ReadingIntake({
      stopping: () => this.#stopping,
      lastAnnouncementAt: () => this.#ownership.lastAnnouncementAt,
      stats: this.stats,
      pipeline: this.#pipeline,
      flow: this.#flow,
    }, now);
    this.#timers = new ProxyTimers(
      {
        expireSplitReadings: () => this.#intake.expire(),
        expireOutbox: () => this.#outbox.outbox.expire(),
        publishOutbox: () => this.#status.publishOutbox(),
        checkAvailability: () => this.#availability.check(now()),
        emitSnapshot: () => this.#emitSnapshot(),
        pace: () => {
          if (!central.connected) return;
          const at = now();
          this.#discovery.drain(at);
          this.#status.drain(at);
        },
        publishStatuses: () => this.#status.publishStatuses(),
        logStats: () => this.#logStats(),
      },
      config.meters.status_interval_seconds,
      config.logging.stats_interval_seconds,
    );
  }

  #onCentralConnect(): void {
    subscribeCentral(
      this.#connections.centralSubscriptions,
      this.#config,
      this.#link.filters,
      {
        announcementsSubscribed: () => this.#intake.gate.subscribed(now()),
        requestsSubscribed: () => this.#connections.apiSubscribed(),
      },
      log,
    );
    this.#outbox.connected();
    this.#status.updateState();
    this.#status.publishOutbox();
    // The configuration flow runs elsewhere: it reports every meter's state again.
    this.#link.send({ type: "resync" });
    // The central broker may have lost retained state (restarted without persistence).
    this.#availability.publishAll();
    if (this.#config.homeassistant.enabled) this.#discovery.republish(true);
    this.#status.publishInfo();
    this.#status.connected();
  }

  #onCentralMessage(message: ReceivedMessage): void {
    routeCentralMessage(
      { root: this.#config.topics.root, homeAssistant: this.#config.homeassistant },
      {
        cluster: (topic, payload) => this.#link.onMessage(topic, payload),
        announcement: (topic, payload) => this.#ownership.onAnnouncement(topic, payload),
        request: (topic, payload) => this.#requests.onRequest(topic, payload),
        relaySet: (topic, payload) => this.#requests.onRelaySet(topic, payload),
        homeAssistantOnline: () => {
          this.#discovery.republish(true);
          this.#availability.publishAll();
        },
        discoveryConfig: (topic, payload) => this.#discovery.onConfig(topic, payload),
      },
      message,
      log,
    );
  }

  #settingsOf(id: MeterId): MeterSettings {
    return meterSettings(this.#config.meters, id);
  }

  /** The listed meters' statuses (`limits.max_listed_meters`, the first by id). */
  #statuses() {
    if (this.#outbox.outbox.status().entries === 0) this.#registry.outboxEmpty();
    return this.#registry.statuses(this.#config.limits.max_listed_meters);
  }

  #acknowledgeOutboxProblem() {
    const problem = this.#outbox.acknowledge();
    if (problem === undefined) return undefined;
    this.#status.publishOutbox();
    this.#emitSnapshot();
    return problem;
  }

  #emitSnapshot(): void {
    this.emit({ type: "snapshot", snapshot: this.snapshot() });
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
      case "ack_latency":
        this.#snapshot.ackLatency(event.seconds);
        break;
      case "workers":
        if (this.#snapshot.workers(event.workers)) this.#emitSnapshot();
        break;
    }
  }

  /** The whole bridge as the proxy sees it, for the HTTP worker. */
  snapshot(): BridgeSnapshot {
    return this.#snapshot.take();
  }

  /** Applies a new configuration's meter settings; broker changes need a restart. */
  reconfigure(config: Config): void {
    this.#config = config;
    this.#timers.statusInterval(config.meters.status_interval_seconds);
    this.#pipeline.reconfigure(pipelineOptions(config));
    this.#registry.maxMeters = config.limits.max_meters;
    this.#discovery.context = discoveryContext(config);
    this.#discovery.setLimits(discoveryLimits(config));
    // Changed fields, names or exclusions change entities; unchanged ones are not re-sent.
    if (config.homeassistant.enabled) this.#discovery.republish(false);
    this.#status.publishInfo();
  }

  /** Logs the counters plus current gauges. */
  #logStats(): void {
    const stats = {
      ...this.stats.snapshot(),
      pending_split_readings: this.#pipeline.pendingReadings,
      meters: this.#pipeline.announcedMeters,
      outbox: this.#outbox.outbox.status(),
    };
    log.info("Stats: {stats}", { stats });
  }

  /**
   * Stops intake, acknowledges what the outbox accepted, waits (bounded) for
   * in-flight publishes, publishes `offline` and disconnects cleanly. What is
   * not delivered stays in the outbox (or, without a durable outbox, with the
   * internal broker) for the next start.
   */
  async stop(timeoutMs: number): Promise<void> {
    const deadline = now() + timeoutMs;
    this.#stopping = true;
    this.#timers.stop();
    this.#intake.gate.open();
    this.#requests.close();
    const { outbox } = this.#outbox;
    outbox.flush();
    await this.#connections.internal.stop({ timeoutMs: Math.min(1000, timeoutMs / 4) });
    const halfway = now() + Math.max(0, (deadline - now()) / 2);
    while (outbox.inFlight > 0 && this.#connections.central.connected && now() < halfway) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    outbox.close();
    await this.#status.publishOffline(deadline - now() - 500);
    await this.#connections.central.stop({ timeoutMs: Math.max(100, deadline - now()) });
    this.#logStats();
  }
}
