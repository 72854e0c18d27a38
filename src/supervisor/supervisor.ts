/**
 * The supervisor: starts each worker with its scoped permissions, restarts a
 * crashed one with backoff, and stops them all within a deadline.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import { logger } from "../logging/setup.ts";
import { Backoff } from "../runtime/backoff.ts";
import type { FromWorker, ToWorker } from "./messages.ts";

const log = logger("supervisor");

/** How to run one worker. */
export interface WorkerSpec {
  readonly name: string;
  readonly url: URL;
  readonly permissions: Deno.PermissionOptionsObject;
}

/** A worker that ran this long without failing resets its restart backoff. */
const STABLE_AFTER_MS = 60_000;

class SupervisedWorker {
  #worker: Worker | undefined;
  #startedAt = 0;
  #restart: ReturnType<typeof setTimeout> | undefined;
  #stopping = false;
  #stopped: (() => void) | undefined;
  readonly #backoff = new Backoff({ initialMs: 1000, maxMs: 60_000 });

  constructor(readonly spec: WorkerSpec, readonly config: Config) {}

  start(): void {
    const { name, url, permissions } = this.spec;
    const worker = new Worker(url, {
      type: "module",
      name,
      deno: { permissions },
    } as WorkerOptions);
    this.#worker = worker;
    this.#startedAt = Date.now();
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const message = event.data;
      if (message.type === "started") log.info("Worker {name} started", { name });
      if (message.type === "stopped") this.#stopped?.();
      if (message.type === "failed") this.#crashed(`failed: ${message.error}`);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      this.#crashed(event.message);
    };
    worker.onmessageerror = () => this.#crashed("sent a message that could not be read");
    this.#post({ type: "start", config: this.config });
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

  constructor(specs: readonly WorkerSpec[], config: Config) {
    this.#workers = specs.map((spec) => new SupervisedWorker(spec, config));
  }

  /** Starts every worker. */
  start(): void {
    for (const worker of this.#workers) worker.start();
  }

  /** Stops every worker in parallel within `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.stop(timeoutMs)));
  }
}
