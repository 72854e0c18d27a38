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
 * Scales to a fleet: meters due for configuration wait in a queue of ids
 * and become batches of commands only as the dispatcher has room, so a
 * whole fleet due at midnight (or reconnecting at once) costs an id each,
 * not three queued commands each.
 *
 * @module
 */
import { meterSettings } from "../config/meter_settings.ts";
import type { Config } from "../config/schema.ts";
import { logger } from "../logging/setup.ts";
import { BrokerConnection } from "../mqtt/broker_connection.ts";
import {
  MAX_REQUESTS_PER_METER,
  type MeterCommandRequest,
  requestTimeoutMs,
  sameRequest,
} from "../protocol/bridge_api.ts";
import {
  clockCommand,
  COMMAND_REPLY_TOPICS,
  type CommandKind,
  intervalReadCommand,
  isCommandReplyTopic,
  type MeterCommand,
  minutesIntervalCommand,
  relayCommand,
  secondsIntervalCommand,
} from "../protocol/commands.ts";
import type { MeterConfigSummary } from "../protocol/meter_status.ts";
import { IntervalReadReplyPayload, RelayReplyPayload } from "../protocol/uplink.ts";
import { parseJsonObject, validateUplink } from "../protocol/decode.ts";
import { isMeterId, type MeterId } from "../protocol/meter_id.ts";
import { MeterClock } from "../protocol/meter_time.ts";
import { announcementFilter, MeterAnnouncement } from "../protocol/topics.ts";
import type { BridgeEvent, RequestResult } from "../worker/messages.ts";
import type { EmitEvent, WorkerContext } from "../worker/worker_runtime.ts";
import { ClusterLink } from "../cluster/cluster_link.ts";
import { clientId } from "../cluster/client_id.ts";
import {
  CommandDispatcher,
  type CommandResult,
  type DispatcherLimits,
} from "./command_dispatcher.ts";
import {
  type AppliedSettings,
  clockSetRecently,
  clockSyncAllowed,
  type ConfigSenderState,
  configurationDue,
  consecutiveFailures,
  type MeterConfigState,
} from "./meter_state.ts";
import { StateStore } from "./state_store.ts";
import { PacedQueue } from "../runtime/paced_queue.ts";

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

interface Batch {
  readonly settings: AppliedSettings;
  readonly day: string;
  readonly pending: Set<CommandKind>;
  /** Whether the clock is set with this batch. */
  readonly clock: boolean;
  /** Failed configurations in a row before this one. */
  readonly previousFailures: number;
  failed: boolean;
}

/** A request waiting for the results of its commands. */
interface RequestJob {
  /** The request its commands carry: the first of those it answers. */
  readonly request: string;
  /** Every request it answers: identical requests in a row share one job. */
  readonly requests: string[];
  readonly command: MeterCommandRequest;
  /** Kinds of the request's commands not settled yet. */
  readonly pending: Set<CommandKind>;
  readonly data: Record<string, unknown>;
  readonly errors: string[];
  /** Whether one of its commands went out. */
  sent: boolean;
}

/**
 * Requests carried out at once; more are refused until some finish. A last
 * line: each meter has its own smaller bound.
 */
const MAX_REQUESTS = 1000;

/** Meter states reported per second when every meter's is sent again. */
const REPORT_RATE = 1000;

/** How often queued reports are sent. */
const REPORT_MS = 200;

function randomOprid(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

/** The config-sender service. */
export class ConfigSender {
  #config: Config;
  #clock: MeterClock;
  #state: ConfigSenderState | undefined;
  readonly #store: StateStore;
  readonly #known = new Set<MeterId>();
  readonly #batches = new Map<MeterId, Batch>();
  /** Meters due for configuration that wait for a batch slot, with what triggered them. */
  readonly #due = new Map<MeterId, string>();
  /** When a drift-triggered clock set was last sent, per meter (the rate limit counts sends). */
  readonly #clockSentAt = new Map<MeterId, number>();
  readonly #internal: BrokerConnection;
  readonly #central: BrokerConnection;
  readonly #dispatcher: CommandDispatcher;
  readonly #now: () => number;
  readonly #newOprid: () => string;
  readonly #retryDelayMs: number | undefined;
  readonly #emit: EmitEvent;
  /** Requests by meter; each waits for the next result of its command kinds. */
  readonly #jobs = new Map<MeterId, RequestJob[]>();
  #jobCount = 0;
  /** Per meter: latency of the last acknowledged command, last request-only failure. */
  readonly #lastAckMs = new Map<MeterId, number>();
  readonly #lastRequestError = new Map<MeterId, string>();
  /** Intervals acknowledged since start (a request may set others than config.yaml). */
  readonly #acknowledged = new Map<MeterId, { seconds?: number; minutes?: number }>();
  #dailyTimer: ReturnType<typeof setInterval> | undefined;
  #ready: Promise<void>;
  /** Events from and for proxies in other processes. */
  readonly #link: ClusterLink;
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
      if (!this.#link.send(event)) emit(event);
    };
    this.#config = config;
    this.#clock = new MeterClock(config.meters.timezone);
    this.#now = options.now ?? Date.now;
    this.#newOprid = options.newOprid ?? randomOprid;
    this.#retryDelayMs = options.retryDelayMs;
    this.#store = new StateStore(config.state_dir);
    this.#dispatcher = this.#createDispatcher(config);
    this.#internal = new BrokerConnection({
      name: "internal",
      broker: config.internal_broker,
      clientId: clientId(config, "internal_broker", "config-internal"),
      log,
    });
    this.#central = new BrokerConnection({
      name: "central",
      broker: config.central_broker,
      clientId: clientId(config, "central_broker", "config-central"),
      log,
    });
    // Meters are learned only once the state is loaded, so no decision uses an empty state.
    this.#ready = this.#store.load().then((state) => {
      this.#state = state;
      // Meters configured before are known, also before (or without) their announcement:
      // an embedded central broker keeps no retained announcements across a restart.
      for (const id of Object.keys(state.meters)) {
        if (isMeterId(id) && this.#known.size < config.limits.max_meters) this.#known.add(id);
      }
    });
    this.#internal.client.on("connect", () => {
      this.#internal.client.subscribe([...COMMAND_REPLY_TOPICS], { qos: 1 }, (error) => {
        if (error) {
          log.error("Subscribing to command replies failed: {error}", { error: error.message });
        }
      });
    });
    this.#internal.client.on("message", (topic, payload) => this.#onReply(topic, payload));
    this.#link = new ClusterLink(
      this.#central.client,
      config.topics.root,
      "config_sender",
      context.remote,
      (event) => this.onEvent(event),
      log,
    );
    this.#central.client.on("connect", () => {
      this.#central.client.subscribe(
        [announcementFilter(this.#config.topics.root), ...this.#link.filters],
        { qos: 1 },
      );
    });
    this.#central.client.on("message", (topic, payload) => {
      if (!this.#link.onMessage(topic, payload)) this.#onAnnouncement(topic, payload);
    });
    this.#dailyTimer = setInterval(() => this.#checkAll("daily check"), DAILY_CHECK_MS);
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

  #createDispatcher(config: Config): CommandDispatcher {
    return new CommandDispatcher({
      ...this.#limits(config),
      retryDelayMs: this.#retryDelayMs,
      send: (command) => this.#send(command),
      onResult: (command, result) => this.#onResult(command, result),
    });
  }

  #limits(config: Config): DispatcherLimits {
    return {
      ackTimeoutMs: config.meters.ack_timeout_seconds * 1000,
      retries: config.meters.command_retries,
      maxParallel: config.meters.max_parallel_commands,
      ratePerSecond: config.meters.command_rate_per_second,
    };
  }

  /** Batches under way at once: enough to keep every dispatcher slot busy. */
  #maxBatches(): number {
    return 2 * this.#config.meters.max_parallel_commands;
  }

  #today(): string {
    return this.#clock.meterTimeAt(this.#now()).slice(0, 8);
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
    if (command.request !== undefined) {
      const job = this.#jobs.get(command.id)?.find((job) => job.request === command.request);
      if (job !== undefined) job.sent = true;
    }
    this.#internal.client.publish(command.topic, command.payload, { qos: 1 }, (error) => {
      if (error) {
        log.warn("Publishing {topic} failed: {error}", {
          topic: command.topic,
          error: error.message,
        });
      }
    });
    return command;
  }

  #onAnnouncement(topic: string, payload: Uint8Array): void {
    const topicId = topic.slice(topic.lastIndexOf("/") + 1);
    if (payload.byteLength === 0) {
      // A cleared announcement: the meter was removed.
      if (isMeterId(topicId)) this.#ready.then(() => this.#forget(topicId));
      return;
    }
    let announcement: MeterAnnouncement;
    try {
      announcement = MeterAnnouncement.parse(JSON.parse(new TextDecoder().decode(payload)));
    } catch {
      log.warn("Ignoring an unreadable announcement on {topic}", { topic: JSON.stringify(topic) });
      return;
    }
    if (announcement.id !== topicId) {
      log.warn("Ignoring an announcement of {id} on {topic}", {
        id: announcement.id,
        topic: JSON.stringify(topic),
      });
      return;
    }
    const id = announcement.id as MeterId;
    this.#ready.then(() => {
      if (!this.#known.has(id) && this.#known.size >= this.#config.limits.max_meters) {
        log.warn("Not configuring {id}: limits.max_meters ({max}) meters are known", {
          id,
          max: this.#config.limits.max_meters,
        });
        return;
      }
      this.#known.add(id);
      this.#check(id, "discovered");
      this.#report(id);
    });
  }

  #forget(id: MeterId): void {
    this.#known.delete(id);
    this.#due.delete(id);
    this.#clockSentAt.delete(id);
    this.#acknowledged.delete(id);
    this.#lastAckMs.delete(id);
    this.#lastRequestError.delete(id);
    if (this.#state?.meters[id] === undefined) return;
    delete this.#state.meters[id];
    log.info("Meter {id} removed (announcement cleared); its configuration state is dropped", {
      id,
    });
    this.#store.save(this.#state);
  }

  #onReply(topic: string, payload: Uint8Array): void {
    if (!isCommandReplyTopic(topic)) return;
    const json = parseJsonObject(payload, this.#config.limits.max_payload_bytes);
    const decoded = json.ok ? validateUplink(topic, json.value) : json;
    if (!decoded.ok) {
      log.warn("Rejected {topic} reply ({code}): {reason}", {
        topic,
        code: decoded.code,
        reason: decoded.reason,
      });
      return;
    }
    const reply = decoded.payload;
    if (!this.#dispatcher.handleReply(topic, reply)) {
      log.debug("Reply on {topic} from {id} matches no outstanding command (oprid {oprid})", {
        topic,
        id: reply.id,
        oprid: reply.oprid,
      });
    }
  }

  #checkAll(trigger: string): void {
    for (const id of this.#known) this.#check(id, trigger);
  }

  /**
   * Sends a meter its configuration when the send policy says so, or queues
   * it until a batch slot is free.
   */
  #check(id: MeterId, trigger: string): void {
    const state = this.#state;
    if (state === undefined || this.#batches.has(id) || this.#due.has(id)) return;
    if (this.#batches.size >= this.#maxBatches()) {
      this.#due.set(id, trigger);
      return;
    }
    if (this.#config.meters.exclude.includes(id)) return;
    const effective = meterSettings(this.#config.meters, id);
    const settings: AppliedSettings = {
      upload_interval_seconds: effective.uploadIntervalSeconds,
      upload_interval_minutes: effective.uploadIntervalMinutes,
    };
    const now = this.#now();
    const reason = configurationDue(state.meters[id], settings, this.#today(), now);
    if (reason === undefined) return;
    log.info("Configuring {id} ({trigger}: {reason})", { id, trigger, reason });
    const commands = [
      secondsIntervalCommand(id, settings.upload_interval_seconds, this.#newOprid()),
      minutesIntervalCommand(id, settings.upload_interval_minutes, this.#newOprid()),
    ];
    const pending = new Set<CommandKind>(["interval_seconds", "interval_minutes"]);
    // A clock set on its way (a drift report came first) serves this batch too; one just
    // acknowledged makes another pointless.
    if (this.#dispatcher.has(id, "clock")) {
      pending.add("clock");
    } else if (!clockSetRecently(state.meters[id], now)) {
      pending.add("clock");
      commands.push(clockCommand(id, this.#clock.meterTimeAt(now), this.#newOprid()));
    }
    this.#batches.set(id, {
      settings,
      day: this.#today(),
      pending,
      clock: pending.has("clock"),
      previousFailures: consecutiveFailures(state.meters[id]),
      failed: false,
    });
    this.#dispatcher.enqueue(commands);
    this.#report(id);
  }

  #onResult(command: MeterCommand, result: CommandResult): void {
    const state = this.#state;
    if (state === undefined) return;
    const id = command.id;
    const meter = state.meters[id] ??= {};
    const at = new Date(this.#now()).toISOString();
    const batch = this.#batches.get(id);
    const fromRequest = command.request !== undefined;
    const inBatch = !fromRequest && batch !== undefined && batch.pending.delete(command.kind);
    this.#settleJobs(command, result);
    if (result.ok) {
      log.info("{id} acknowledged {summary} (oprid {oprid}) after {ms} ms", {
        ...command,
        ms: Math.round(result.latencyMs),
      });
      this.#lastAckMs.set(id, result.latencyMs);
      if (command.kind === "interval_seconds" || command.kind === "interval_minutes") {
        const value = Number(JSON.parse(command.payload).value);
        const acknowledged = this.#acknowledged.get(id) ?? {};
        if (command.kind === "interval_seconds") acknowledged.seconds = value;
        else acknowledged.minutes = value;
        if (this.#acknowledged.size < this.#config.limits.max_meters) {
          this.#acknowledged.set(id, acknowledged);
        }
      }
      this.#emit({ type: "ack_latency", seconds: result.latencyMs / 1000 });
      if (command.kind === "clock") {
        meter.clock_set_at = at;
        this.#clockSentAt.delete(id);
      }
    } else if (fromRequest) {
      log.error("ALERT meter {id}: {summary} failed (oprid {oprid}): {reason}", {
        ...command,
        reason: failure(command, result),
      });
      this.#lastRequestError.set(id, `${command.summary}: ${failure(command, result)}`);
    } else {
      log.error(
        "ALERT meter {id}: {summary} failed (oprid {oprid}, command {kind}): {reason}",
        { ...command, reason: result.reason },
      );
      // A failed batch counts once however many of its commands fail.
      const before = inBatch ? batch.previousFailures : consecutiveFailures(meter);
      const consecutive = inBatch ? before + 1 : Math.max(1, before);
      meter.last_failure = {
        command: command.summary,
        oprid: command.oprid,
        reason: result.reason,
        at,
        settings: batch?.settings,
        consecutive,
      };
    }
    if (inBatch) {
      batch.failed ||= !result.ok;
      if (batch.pending.size === 0) {
        this.#batches.delete(id);
        if (!batch.failed) {
          meter.configured = { day: batch.day, settings: batch.settings, at };
          log.info("{id} configured: {seconds} s / {minutes} min{clock}", {
            id,
            seconds: batch.settings.upload_interval_seconds,
            minutes: batch.settings.upload_interval_minutes,
            clock: batch.clock ? ", clock set" : "",
          });
        }
        // Settings may have changed while the batch was out.
        this.#check(id, "configuration changed");
        this.#startDue();
      }
    }
    if (!fromRequest || command.kind === "clock") this.#store.save(state);
    this.#report(id);
  }

  /** Checks waiting meters, oldest first, while batch slots are free. */
  #startDue(): void {
    for (const [id, trigger] of this.#due) {
      if (this.#batches.size >= this.#maxBatches()) return;
      this.#due.delete(id);
      this.#check(id, trigger);
    }
  }

  /** Tells the proxy where a meter's configuration stands. */
  #report(id: MeterId): void {
    this.#emit({ type: "meter_config", id, summary: this.summary(id) });
  }

  /** The configuration flow's view of one meter. */
  summary(id: MeterId): MeterConfigSummary {
    const meter = this.#state?.meters[id];
    const configured = meter?.configured;
    const failure = meter?.last_failure;
    const failedLast = failure !== undefined &&
      (configured === undefined || failure.at > configured.at);
    const requestError = this.#lastRequestError.get(id);
    const acknowledged = this.#acknowledged.get(id);
    return {
      configuration: this.#config.meters.exclude.includes(id)
        ? "excluded"
        : this.#batches.has(id)
        ? "configuring"
        : failedLast
        ? "failed"
        : configured !== undefined
        ? "configured"
        : "pending",
      intervals: {
        seconds: acknowledged?.seconds ?? configured?.settings.upload_interval_seconds ?? null,
        minutes: acknowledged?.minutes ?? configured?.settings.upload_interval_minutes ?? null,
      },
      clock_set_at: meter?.clock_set_at ?? null,
      last_ack_latency_ms: this.#lastAckMs.has(id) ? Math.round(this.#lastAckMs.get(id)!) : null,
      last_error: requestError ??
        (failure === undefined ? null : `${failure.command}: ${failure.reason}`),
    };
  }

  /**
   * Carries out a command request of the bridge API or the relay switch and
   * reports its result with a `command_result` event by `expiresAt` (epoch
   * ms, the requester's deadline) at the latest. A request identical to the
   * meter's latest one in progress shares its job and its answer.
   */
  #onCommandRequest(request: string, command: MeterCommandRequest, expiresAt?: number): void {
    const answer = (result: RequestResult) =>
      this.#emit({ type: "command_result", request, result });
    const { id } = command;
    const jobs = this.#jobs.get(id) ?? [];
    const latest = jobs.at(-1);
    if (latest !== undefined && sameRequest(latest.command, command)) {
      latest.requests.push(request);
      log.info("Request {request}: {action} for {id}, answered with {earlier}", {
        request,
        action: command.action,
        id,
        earlier: latest.request,
      });
      return;
    }
    // Checked again here: a request may come from another process, over the central broker.
    const refusal = jobs.length >= MAX_REQUESTS_PER_METER
      ? `${jobs.length} requests for meter ${id} are in progress; try again once they are answered`
      : this.#jobCount >= MAX_REQUESTS
      ? `${MAX_REQUESTS} requests are in progress; try again later`
      : !this.#known.has(id)
      ? `meter ${id} is not known to the configuration flow`
      : this.#config.meters.exclude.includes(id)
      ? `meter ${id} is excluded (meters.exclude)`
      : command.action === "relay" && !this.#config.meters.relay_control.includes(id)
      ? `meter ${id} is not in meters.relay_control`
      : undefined;
    if (refusal !== undefined) {
      answer({ ok: false, error: refusal });
      return;
    }
    const commands: MeterCommand[] = [];
    switch (command.action) {
      case "sync_time":
        commands.push(clockCommand(id, this.#clock.meterTimeAt(this.#now()), this.#newOprid()));
        break;
      case "read_interval":
        commands.push(
          intervalReadCommand(id, "seconds", this.#newOprid()),
          intervalReadCommand(id, "minutes", this.#newOprid()),
        );
        break;
      case "set_interval":
        if (command.seconds !== undefined) {
          commands.push(secondsIntervalCommand(id, command.seconds, this.#newOprid()));
        }
        if (command.minutes !== undefined) {
          commands.push(minutesIntervalCommand(id, command.minutes, this.#newOprid()));
        }
        break;
      case "relay":
        commands.push(relayCommand(id, command.on, this.#newOprid()));
        break;
      default:
        command satisfies never;
    }
    const tagged = commands.map((c): MeterCommand => ({ ...c, request }));
    const job: RequestJob = {
      request,
      requests: [request],
      command,
      pending: new Set(tagged.map((c) => c.kind)),
      data: { id },
      errors: [],
      sent: false,
    };
    jobs.push(job);
    this.#jobs.set(id, jobs);
    this.#jobCount++;
    const { meters } = this.#config;
    const deadline = Math.min(
      this.#now() + requestTimeoutMs(meters.ack_timeout_seconds, meters.command_retries),
      expiresAt ?? Infinity,
    );
    log.info("Request {request}: {action} for {id}", { request, action: command.action, id });
    this.#dispatcher.enqueue(tagged, deadline);
  }

  /** Gives each request waiting for this command kind its share of the result. */
  #settleJobs(command: MeterCommand, result: CommandResult): void {
    const jobs = this.#jobs.get(command.id);
    if (jobs === undefined) return;
    for (const job of jobs) {
      if (job.request !== command.request || !job.pending.delete(command.kind)) continue;
      if (!result.ok) job.errors.push(`${command.summary}: ${failure(command, result)}`);
      else Object.assign(job.data, resultData(command, result.reply));
      if (job.pending.size > 0) continue;
      this.#answer(
        job,
        job.errors.length === 0
          ? { ok: true, data: job.data }
          : { ok: false, error: job.errors.join("; ") },
      );
    }
    const open = jobs.filter((job) => job.pending.size > 0);
    if (open.length === 0) this.#jobs.delete(command.id);
    else this.#jobs.set(command.id, open);
  }

  /** Answers every request a job carries out. */
  #answer(job: RequestJob, result: RequestResult): void {
    this.#jobCount--;
    for (const request of job.requests) this.#emit({ type: "command_result", request, result });
  }

  /** Sets a drifting meter's clock, at most once per `time_sync.min_interval_seconds`. */
  onEvent(event: BridgeEvent): void {
    if (event.type === "command_request") {
      this.#ready.then(() =>
        this.#onCommandRequest(event.request, event.command, event.expires_at)
      );
      return;
    }
    if (event.type === "resync") {
      this.#ready.then(() => this.#reportAll());
      return;
    }
    if (event.type !== "clock_drift" || !isMeterId(event.id)) return;
    const id = event.id;
    this.#ready.then(() => {
      if (!this.#known.has(id) && this.#known.size >= this.#config.limits.max_meters) return;
      this.#known.add(id);
      const now = this.#now();
      const minIntervalMs = this.#config.meters.time_sync.min_interval_seconds * 1000;
      if (this.#dispatcher.has(id, "clock")) return;
      if (!clockSyncAllowed(this.#state?.meters[id], now, minIntervalMs)) return;
      const sentAt = this.#clockSentAt.get(id);
      if (sentAt !== undefined && now - sentAt < minIntervalMs) return;
      log.info("Clock of {id} is off by {drift} s; setting it", { id, drift: event.drift_seconds });
      // Counts from the send, so a meter that never acknowledges is not sent more often.
      if (this.#clockSentAt.size >= this.#config.limits.max_meters) this.#clockSentAt.clear();
      this.#clockSentAt.set(id, now);
      this.#dispatcher.enqueue([clockCommand(id, this.#clock.meterTimeAt(now), this.#newOprid())]);
    });
  }

  /** Applies a new configuration: only meters whose settings changed get commands. */
  reconfigure(config: Config): void {
    this.#config = config;
    this.#clock = new MeterClock(config.meters.timezone);
    this.#dispatcher.setLimits(this.#limits(config));
    this.#ready.then(() => {
      this.#startDue();
      this.#checkAll("configuration changed");
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
    for (const job of [...this.#jobs.values()].flat()) {
      const error = job.sent
        ? `the bridge is stopping; sent, not acknowledged: ${mayHaveTakenEffect(job.command)}`
        : "the bridge is stopping; not sent";
      this.#answer(job, { ok: false, error });
    }
    this.#jobs.clear();
    if (this.#state !== undefined) await this.#store.flush(this.#state);
    const each = Math.max(100, timeoutMs / 2);
    await Promise.all([
      this.#internal.stop({ timeoutMs: each }),
      this.#central.stop({ timeoutMs: each }),
    ]);
  }
}

/** Why a command failed, and for one sent but never acknowledged, what that may mean. */
function failure(command: MeterCommand, result: CommandResult & { ok: false }): string {
  if (result.outcome !== "unanswered") return result.reason;
  return `${result.reason}; sent, not acknowledged: ${mayHaveTakenEffect(command)}`;
}

/** What a command sent but never acknowledged may have done at the meter. */
function mayHaveTakenEffect(command: Pick<MeterCommand, "kind"> | MeterCommandRequest): string {
  const relay = "kind" in command ? command.kind === "relay" : command.action === "relay";
  return relay ? "the relay may have switched" : "the meter may have applied it";
}

/** What a successful command adds to its request's response data. */
function resultData(command: MeterCommand, reply: unknown): Record<string, unknown> {
  switch (command.kind) {
    case "clock":
      return { time: JSON.parse(command.payload).time };
    case "interval_seconds":
      return { seconds: Number(JSON.parse(command.payload).value) };
    case "interval_minutes":
      return { minutes: Number(JSON.parse(command.payload).value) };
    case "read_interval_seconds":
    case "read_interval_minutes": {
      const read = IntervalReadReplyPayload.safeParse(reply);
      const key = command.kind === "read_interval_seconds" ? "seconds" : "minutes";
      return { [key]: read.success ? Number(read.data.value) : null };
    }
    case "relay": {
      const relay = RelayReplyPayload.safeParse(reply);
      const on = relay.success && relay.data.do1 !== undefined
        ? relay.data.do1 === "1"
        : JSON.parse(command.payload).do1 === "1";
      return { state: on ? "ON" : "OFF" };
    }
  }
}
