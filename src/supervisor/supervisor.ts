/**
 * The supervisor: starts each worker with its scoped permissions, restarts a
 * crashed one with backoff, and stops them all within a deadline.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import { logger } from "../logging/setup.ts";
import { Backoff } from "../runtime/backoff.ts";
import type { WorkerState } from "../status/bridge_snapshot.ts";
import type { ClusterWorker } from "../protocol/cluster.ts";
import {
  type BridgeEvent,
  EVENT_RECIPIENTS,
  type FromWorker,
  type ToWorker,
} from "../worker/messages.ts";

const log = logger("supervisor");

/** How to run one worker. */
export interface WorkerSpec {
  readonly name: string;
  readonly url: URL;
  readonly permissions: Deno.PermissionOptionsObject;
  /** Started, and given time to come up, before the other workers (e.g. a broker). */
  readonly startFirst?: boolean;
}

/** How a worker's start went. */
type StartOutcome = "started" | "failed" | "timeout";

/** Time kept for stopping the `startFirst` workers after the others. */
const LAST_STOP_MS = 1000;

/**
 * How long the other workers wait for the `startFirst` ones: generous, as a
 * slow gateway's first start (or one under emulation) loads every module cold.
 */
const FIRST_START_TIMEOUT_MS = 60_000;

/** Something that happened to a supervised worker. */
export type WorkerEvent =
  | { readonly type: "started"; readonly name: string }
  | {
    readonly type: "crashed";
    readonly name: string;
    readonly reason: string;
    readonly restartInMs: number;
  }
  | { readonly type: "stopped"; readonly name: string };

/** Supervision settings. */
export interface SupervisorOptions {
  /** First restart delay after a crash; doubles up to `restartMaxMs`. */
  readonly restartInitialMs?: number;
  readonly restartMaxMs?: number;
  /** Observes worker life cycles (status reporting, tests). */
  readonly onWorkerEvent?: (event: WorkerEvent) => void;
  /** Receives every event a worker emits (the supervisor's own requests, tests). */
  readonly onBridgeEvent?: (from: string, event: BridgeEvent) => void;
  /** Receives the log lines workers format for the log file (`logging.file`). */
  readonly onLogLines?: (text: string) => void;
  /** The bridge's workers that run in other processes (`--workers`). */
  readonly remote?: readonly ClusterWorker[];
}

/** A worker that ran this long without failing resets its restart backoff. */
const STABLE_AFTER_MS = 60_000;

class SupervisedWorker {
  #worker: Worker | undefined;
  #startedAt = 0;
  #restart: ReturnType<typeof setTimeout> | undefined;
  #stopping = false;
  #stopped: (() => void) | undefined;
  readonly #backoff: Backoff;

  constructor(
    readonly spec: WorkerSpec,
    public config: Config,
    readonly options: SupervisorOptions,
    readonly route: (from: string, event: BridgeEvent) => void,
  ) {
    this.#backoff = new Backoff({
      initialMs: options.restartInitialMs ?? 1000,
      maxMs: options.restartMaxMs ?? 60_000,
    });
  }

  /**
   * Starts the worker. The returned promise tells how the start went: it
   * resolves when the worker reports started, fails, or `waitMs` passes.
   */
  start(waitMs = 0): Promise<StartOutcome> {
    const { name, url, permissions } = this.spec;
    let settle = (_: StartOutcome) => {};
    const settled = new Promise<StartOutcome>((resolve) => {
      const timer = setTimeout(() => resolve("timeout"), waitMs);
      settle = (outcome) => {
        clearTimeout(timer);
        resolve(outcome);
      };
    });
    const worker = new Worker(url, {
      type: "module",
      name,
      deno: { permissions },
    } as WorkerOptions);
    this.#worker = worker;
    this.#startedAt = Date.now();
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const message = event.data;
      if (message.type === "started") {
        log.info("Worker {name} started", { name });
        this.options.onWorkerEvent?.({ type: "started", name });
        settle("started");
      }
      if (message.type === "stopped") {
        this.options.onWorkerEvent?.({ type: "stopped", name });
        this.#stopped?.();
      }
      if (message.type === "failed") {
        settle("failed");
        this.#crashed(`failed: ${message.error}`);
      }
      if (message.type === "event") this.route(name, message.event);
      if (message.type === "log") this.options.onLogLines?.(message.text);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      settle("failed");
      this.#crashed(event.message);
    };
    worker.onmessageerror = () => this.#crashed("sent a message that could not be read");
    this.#post({ type: "start", config: this.config, remote: this.options.remote ?? [] });
    return settled;
  }

  /** Delivers an event from another worker. */
  deliver(event: BridgeEvent): void {
    this.#post({ type: "event", event });
  }

  /** Applies a new configuration; a restarted worker starts with it too. */
  reconfigure(config: Config): void {
    this.config = config;
    this.#post({ type: "config", config });
  }

  #post(message: ToWorker): void {
    this.#worker?.postMessage(message);
  }

  #crashed(reason: string): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    if (this.#stopping) {
      this.#stopped?.();
      return;
    }
    if (Date.now() - this.#startedAt > STABLE_AFTER_MS) this.#backoff.reset();
    const delay = this.#backoff.next();
    log.error("Worker {name} crashed: {reason}; restarting in {seconds} s (attempt {attempt})", {
      name: this.spec.name,
      reason,
      seconds: (delay / 1000).toFixed(1),
      attempt: this.#backoff.attempt,
    });
    this.options.onWorkerEvent?.({
      type: "crashed",
      name: this.spec.name,
      reason,
      restartInMs: delay,
    });
    this.#restart = setTimeout(() => {
      this.#restart = undefined;
      this.start();
    }, delay);
  }

  /** Asks the worker to stop; terminates it if it has not within `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restart);
    if (this.#worker === undefined) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stopped = new Promise<"stopped">((resolve) => this.#stopped = () => resolve("stopped"));
    const deadline = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    this.#post({ type: "stop", timeoutMs: Math.max(0, timeoutMs - 250) });
    const outcome = await Promise.race([stopped, deadline]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      log.warn("Worker {name} did not stop within {ms} ms; terminated", {
        name: this.spec.name,
        ms: timeoutMs,
      });
    }
    this.#worker?.terminate();
    this.#worker = undefined;
  }
}

/** Starts and supervises a set of workers. */
export class Supervisor {
  readonly #workers: SupervisedWorker[];
  readonly #states: Record<string, WorkerState> = {};
  readonly #options: SupervisorOptions;

  constructor(specs: readonly WorkerSpec[], config: Config, options: SupervisorOptions = {}) {
    this.#options = options;
    const tracked: SupervisorOptions = {
      ...options,
      onWorkerEvent: (event) => {
        this.#setState(
          event.name,
          event.type === "started"
            ? "running"
            : event.type === "crashed"
            ? "restarting"
            : "stopped",
        );
        options.onWorkerEvent?.(event);
      },
    };
    this.#workers = specs.map((spec) => {
      this.#states[spec.name] = "starting";
      return new SupervisedWorker(spec, config, tracked, (from, event) => this.#route(from, event));
    });
  }

  /** The state of every worker. */
  get states(): Readonly<Record<string, WorkerState>> {
    return { ...this.#states };
  }

  #setState(name: string, state: WorkerState): void {
    this.#states[name] = state;
    this.broadcast({ type: "workers", workers: this.states });
  }

  #route(from: string, event: BridgeEvent): void {
    this.#options.onBridgeEvent?.(from, event);
    const recipients = EVENT_RECIPIENTS[event.type];
    for (const worker of this.#workers) {
      if (worker.spec.name === from) continue;
      if (recipients === undefined || recipients.includes(worker.spec.name)) worker.deliver(event);
    }
  }

  /** Sends an event of the supervisor's own to the workers it is for. */
  broadcast(event: BridgeEvent): void {
    const recipients = EVENT_RECIPIENTS[event.type];
    for (const worker of this.#workers) {
      if (recipients === undefined || recipients.includes(worker.spec.name)) worker.deliver(event);
    }
  }

  /** Sends a new valid configuration to every worker. */
  reconfigure(config: Config): void {
    for (const worker of this.#workers) worker.reconfigure(config);
  }

  /**
   * Starts every worker: the `startFirst` ones, then, once all of them report
   * started, the rest. Resolves with the names of `startFirst` workers that
   * failed to start (or did not within a deadline); the rest are then not
   * started, since they depend on them.
   */
  async start(): Promise<string[]> {
    const first = this.#workers.filter((worker) => worker.spec.startFirst);
    const outcomes = await Promise.all(first.map((worker) => worker.start(FIRST_START_TIMEOUT_MS)));
    const failed = first.filter((_, i) => outcomes[i] !== "started").map((w) => w.spec.name);
    if (failed.length > 0) return failed;
    for (const worker of this.#workers) if (!worker.spec.startFirst) worker.start();
    return [];
  }

  /**
   * Stops every worker within `timeoutMs`: the `startFirst` ones (the
   * embedded brokers) last, so the others' clients end their sessions
   * instead of finding their broker gone.
   */
  async stop(timeoutMs: number): Promise<void> {
    const started = performance.now();
    const last = this.#workers.filter((worker) => worker.spec.startFirst);
    const first = this.#workers.filter((worker) => !worker.spec.startFirst);
    const reserve = last.length === 0 ? 0 : Math.min(LAST_STOP_MS, timeoutMs / 2);
    await Promise.all(first.map((worker) => worker.stop(timeoutMs - reserve)));
    const left = Math.max(reserve, timeoutMs - (performance.now() - started));
    await Promise.all(last.map((worker) => worker.stop(left)));
  }
}
