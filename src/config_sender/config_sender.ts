/**
 * The configuration flow: learns meters from the proxy's announcements on
 * central, sets their upload intervals and clock over command topics on the
 * internal broker, matches acknowledgements, retries, raises `ALERT`s, and
 * remembers what each meter acknowledged so a restart does not re-send.
 *
 * Triggers: a meter announced (also ones announced before this worker
 * started: announcements are retained), the daily check, a new
 * configuration, and clock drift reported by the proxy.
 *
 * This module wires the parts: {@link ConfigBatches} (what a meter is due),
 * {@link RequestJobs} (command requests), {@link ClockDrift},
 * {@link MeterSummaries}, the {@link CommandDispatcher} and the brokers.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import { logger } from "../logging/setup.ts";
import { requestTimeoutMs } from "../protocol/bridge_api.ts";
import { clockCommand, type MeterCommand } from "../protocol/commands.ts";
import type { MeterConfigSummary } from "../protocol/meter_status.ts";
import { isMeterId, type MeterId } from "../protocol/meter_id.ts";
import { MeterClock } from "../protocol/meter_time.ts";
import type { BridgeEvent } from "../worker/messages.ts";
import type { EmitEvent, WorkerContext } from "../worker/worker_runtime.ts";
import { PacedQueue } from "../runtime/paced_queue.ts";
import { ClockDrift } from "./clock_drift.ts";
import {
  CommandDispatcher,
  type CommandResult,
  type DispatcherLimits,
} from "./command_dispatcher.ts";
import { ConfigBatches } from "./config_batches.ts";
import type { ConfigSenderState, MeterConfigState } from "./meter_state.ts";
import { MeterSummaries } from "./meter_summaries.ts";
import { RequestJobs } from "./request_jobs.ts";
import { SenderBrokers } from "./sender_brokers.ts";
import { SenderInbox } from "./sender_inbox.ts";
import { StateStore } from "./state_store.ts";

const log = logger("config_sender");

/** How often every known meter is checked for its daily configuration. */
const DAILY_CHECK_MS = 10 * 60_000;

/** Dependencies that tests replace. */
export interface ConfigSenderOptions {
  /** Current time in epoch milliseconds. */
  readonly now?: () => number;
  /** A new 32-character operation id. */
  readonly newOprid?: () => string;
  /** Pause between a timed-out attempt and the next one (first step). */
  readonly retryDelayMs?: number;
}

/** Meter states reported per second when every meter's is sent again. */
const REPORT_RATE = 1000;

/** How often queued reports are sent. */
const REPORT_MS = 200;

function randomOprid(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

function dispatcherLimits(config: Config): DispatcherLimits {
  return {
    ackTimeoutMs: config.meters.ack_timeout_seconds * 1000,
    retries: config.meters.command_retries,
    maxParallel: config.meters.max_parallel_commands,
    ratePerSecond: config.meters.command_rate_per_second,
  };
}

/** The config-sender service. */
export class ConfigSender {
  #config: Config;
  #clock: MeterClock;
  #state: ConfigSenderState | undefined;
  readonly #store: StateStore;
  readonly #known = new Set<MeterId>();
  readonly #now: () => number;
  readonly #newOprid: () => string;
  readonly #emit: EmitEvent;
  readonly #brokers: SenderBrokers;
  readonly #dispatcher: CommandDispatcher;
  readonly #batches: ConfigBatches;
  readonly #jobs: RequestJobs;
  readonly #drift: ClockDrift;
  readonly #summaries: MeterSummaries;
  readonly #dailyTimer: ReturnType<typeof setInterval>;
  readonly #ready: Promise<void>;
  /** Meters whose state is reported again (a proxy restarted, the configuration changed). */
  readonly #reports: PacedQueue<MeterId>;
  readonly #reportTimer: ReturnType<typeof setInterval>;

  constructor(
    config: Config,
    options: ConfigSenderOptions = {},
    emit: EmitEvent = () => {},
    context: WorkerContext = { remote: [] },
  ) {
    this.#emit = (event) => {
      if (!this.#brokers.sendRemote(event)) emit(event);
    };
    this.#config = config;
    this.#clock = new MeterClock(config.meters.timezone);
    this.#now = options.now ?? Date.now;
    this.#newOprid = options.newOprid ?? randomOprid;
    this.#store = new StateStore(config.state_dir);
    this.#dispatcher = new CommandDispatcher({
      ...dispatcherLimits(config),
      retryDelayMs: options.retryDelayMs,
      send: (command) => this.#send(command),
      onResult: (command, result) => this.#onResult(command, result),
    });
    const now = () => this.#now();
    const newOprid = () => this.#newOprid();
    const meterTime = (at: number) => this.#clock.meterTimeAt(at);
    const maxMeters = () => this.#config.limits.max_meters;
    const queued = this.#dispatcher.has.bind(this.#dispatcher);
    const enqueue = this.#dispatcher.enqueue.bind(this.#dispatcher);
    this.#batches = new ConfigBatches({
      now,
      newOprid,
      meterTime,
      meters: () => this.#config.meters,
      state: () => this.#state,
      enqueue,
      queued,
      report: (id) => this.#report(id),
    });
    this.#jobs = new RequestJobs({
      now,
      newOprid,
      meterTime,
      refusal: ({ id, action }) => {
        const { meters } = this.#config;
        return !this.#known.has(id)
          ? `meter ${id} is not known to the configuration flow`
          : meters.exclude.includes(id)
          ? `meter ${id} is excluded (meters.exclude)`
          : action === "relay" && !meters.relay_control.includes(id)
          ? `meter ${id} is not in meters.relay_control`
          : undefined;
      },
      timeoutMs: () =>
        requestTimeoutMs(
          this.#config.meters.ack_timeout_seconds,
          this.#config.meters.command_retries,
        ),
      enqueue,
      answer: (request, result) => this.#emit({ type: "command_result", request, result }),
    });
    this.#drift = new ClockDrift({
      now,
      newOprid,
      meterTime,
      minIntervalMs: () => this.#config.meters.time_sync.min_interval_seconds * 1000,
      maxMeters,
      queued,
      enqueue,
    });
    this.#summaries = new MeterSummaries(maxMeters);
    // Meters are learned only once the state is loaded, so no decision uses an empty state.
    this.#ready = this.#store.load().then((state) => {
      this.#state = state;
      // Meters configured before are known, also before (or without) their announcement:
      // an embedded central broker keeps no retained announcements across a restart.
      for (const id of Object.keys(state.meters)) {
        if (isMeterId(id) && this.#known.size < config.limits.max_meters) this.#known.add(id);
      }
    });
    const inbox = new SenderInbox({
      maxPayloadBytes: () => this.#config.limits.max_payload_bytes,
      reply: (topic, reply) => this.#dispatcher.handleReply(topic, reply),
      announced: (id) => this.#ready.then(() => this.#onAnnounced(id)),
      cleared: (id) => this.#ready.then(() => this.#forget(id)),
    });
    this.#brokers = new SenderBrokers(config, context, inbox, (event) => this.onEvent(event));
    this.#dailyTimer = setInterval(
      () => this.#batches.checkAll(this.#known, "daily check"),
      DAILY_CHECK_MS,
    );
    this.#reports = new PacedQueue(
      { ratePerSecond: REPORT_RATE, burst: REPORT_RATE },
      (id) => {
        if (this.#known.has(id)) this.#report(id);
        return 1;
      },
      this.#now(),
    );
    this.#reportTimer = setInterval(() => this.#reports.drain(this.#now()), REPORT_MS);
  }

  /** Resolves once the state file has been read. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** The in-memory state of one meter (for status and tests). */
  meterState(id: string): MeterConfigState | undefined {
    return this.#state?.meters[id as MeterId];
  }

  #send(queued: MeterCommand): MeterCommand {
    // A clock command carries the time it is sent, not when it was queued (queues and retries delay it).
    const command = queued.kind === "clock"
      ? {
        ...clockCommand(queued.id, this.#clock.meterTimeAt(this.#now()), queued.oprid),
        request: queued.request,
      }
      : queued;
    log.info("Sending {summary} to {id} on {topic} (oprid {oprid})", { ...command });
    this.#jobs.sent(command);
    this.#brokers.publish(command);
    return command;
  }

  /** Adds a meter to those known, unless `limits.max_meters` are known; returns whether it is. */
  #learn(id: MeterId): boolean {
    if (!this.#known.has(id) && this.#known.size >= this.#config.limits.max_meters) return false;
    this.#known.add(id);
    return true;
  }

  #onAnnounced(id: MeterId): void {
    if (!this.#learn(id)) {
      log.warn("Not configuring {id}: limits.max_meters ({max}) meters are known", {
        id,
        max: this.#config.limits.max_meters,
      });
      return;
    }
    this.#batches.check(id, "discovered");
    this.#report(id);
  }

  #forget(id: MeterId): void {
    this.#known.delete(id);
    this.#batches.forget(id);
    this.#drift.forget(id);
    this.#summaries.forget(id);
    if (this.#state?.meters[id] === undefined) return;
    delete this.#state.meters[id];
    log.info("Meter {id} removed (announcement cleared); its configuration state is dropped", {
      id,
    });
    this.#store.save(this.#state);
  }

  #onResult(command: MeterCommand, result: CommandResult): void {
    const state = this.#state;
    if (state === undefined) return;
    const id = command.id;
    const meter = state.meters[id] ??= {};
    const at = new Date(this.#now()).toISOString();
    const fromRequest = command.request !== undefined;
    const inBatch = this.#batches.claim(command);
    this.#jobs.settle(command, result);
    if (result.ok) {
      this.#summaries.acknowledged(command, result);
      this.#emit({ type: "ack_latency", seconds: result.latencyMs / 1000 });
      if (command.kind === "clock") {
        meter.clock_set_at = at;
        this.#drift.acknowledged(id);
      }
    } else if (fromRequest) {
      this.#summaries.requestFailed(command, result);
    }
    this.#batches.settle(command, result, meter, at, inBatch);
    if (!fromRequest || command.kind === "clock") this.#store.save(state);
    this.#report(id);
  }

  /** Tells the proxy where a meter's configuration stands. */
  #report(id: MeterId): void {
    this.#emit({ type: "meter_config", id, summary: this.summary(id) });
  }

  /** The configuration flow's view of one meter. */
  summary(id: MeterId): MeterConfigSummary {
    return this.#summaries.summary(id, this.#state?.meters[id], {
      excluded: this.#config.meters.exclude.includes(id),
      configuring: this.#batches.has(id),
    });
  }

  /**
   * Takes an event for the configuration flow: a command request (answered
   * with a `command_result` event by its `expires_at` at the latest), a
   * resync, or clock drift (the clock is set at most once per
   * `time_sync.min_interval_seconds`).
   */
  onEvent(event: BridgeEvent): void {
    if (event.type === "command_request") {
      this.#ready.then(() => this.#jobs.open(event.request, event.command, event.expires_at));
      return;
    }
    if (event.type === "resync") {
      this.#ready.then(() => this.#reportAll());
      return;
    }
    if (event.type !== "clock_drift" || !isMeterId(event.id)) return;
    const id = event.id;
    this.#ready.then(() => {
      if (!this.#learn(id)) return;
      this.#drift.onDrift(id, event.drift_seconds, this.#state?.meters[id]);
    });
  }

  /** Applies a new configuration: only meters whose settings changed get commands. */
  reconfigure(config: Config): void {
    this.#config = config;
    this.#clock = new MeterClock(config.meters.timezone);
    this.#dispatcher.setLimits(dispatcherLimits(config));
    this.#ready.then(() => {
      this.#batches.startDue();
      this.#batches.checkAll(this.#known, "configuration changed");
      this.#reportAll();
    });
  }

  /** Reports every known meter's state again, paced. */
  #reportAll(): void {
    for (const id of this.#known) this.#reports.add(id);
  }

  /** Stops sending; the state is saved. Open requests are answered with an error. */
  async stop(timeoutMs: number): Promise<void> {
    clearInterval(this.#dailyTimer);
    clearInterval(this.#reportTimer);
    this.#dispatcher.stop();
    this.#jobs.stop();
    if (this.#state !== undefined) await this.#store.flush(this.#state);
    await this.#brokers.stop(Math.max(100, timeoutMs / 2));
  }
}
