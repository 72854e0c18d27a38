/**
 * The worker side of supervision: receives `start` and `stop`, sets up
 * logging in the worker's isolate and runs one service.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import { closeLogging, logger, setupLogging } from "../logging/setup.ts";
import type { ClusterWorker } from "../protocol/cluster.ts";
import type { BridgeEvent, FromWorker, ToWorker } from "./messages.ts";

/** A service a worker runs. */
export interface WorkerService {
  stop(timeoutMs: number): Promise<void>;
  /** Applies a new valid configuration without restart. */
  reconfigure?(config: Config): void;
  /** Receives an event from another worker. */
  onEvent?(event: BridgeEvent): void;
}

/** Sends an event to the other workers. */
export type EmitEvent = (event: BridgeEvent) => void;

/** Where a worker runs: which of the bridge's workers run in other processes. */
export interface WorkerContext {
  readonly remote: readonly ClusterWorker[];
}

declare const self: {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker): void;
};

/**
 * Runs a service in this worker under the supervisor's control.
 *
 * @param name category of the worker's log lines
 * @param start creates and starts the service
 */
export function runWorker(
  name: string,
  start: (config: Config, emit: EmitEvent, context: WorkerContext) => Promise<WorkerService>,
): void {
  let service: WorkerService | undefined;
  // Messages that arrive while the service starts are applied once it runs.
  let pendingConfig: Config | undefined;
  const pendingEvents: BridgeEvent[] = [];
  /** Settles when the start is over, so a `stop` during it stops what it started. */
  let starting: Promise<void> = Promise.resolve();
  self.onmessage = async (event) => {
    const message = event.data;
    if (message.type === "start") {
      const started = Promise.withResolvers<void>();
      starting = started.promise;
      try {
        await startService(message);
      } finally {
        started.resolve();
      }
    } else if (message.type === "config") {
      if (service === undefined) pendingConfig = message.config;
      else service.reconfigure?.(message.config);
    } else if (message.type === "event") {
      if (service === undefined) pendingEvents.push(message.event);
      else service.onEvent?.(message.event);
    } else if (message.type === "stop") {
      await starting;
      await service?.stop(message.timeoutMs);
      await closeLogging();
      self.postMessage({ type: "stopped" });
    }
  };

  async function startService(message: Extract<ToWorker, { type: "start" }>): Promise<void> {
    await setupLogging(
      message.config.logging,
      message.config.logging.file === undefined
        ? undefined
        : (text) => self.postMessage({ type: "log", text }),
    );
    try {
      const started = await start(
        message.config,
        (event) => self.postMessage({ type: "event", event }),
        { remote: message.remote },
      );
      service = started;
      if (pendingConfig !== undefined) started.reconfigure?.(pendingConfig);
      for (const event of pendingEvents.splice(0)) started.onEvent?.(event);
      self.postMessage({ type: "started" });
    } catch (error) {
      logger(name).fatal("Worker could not start: {error}", { error: String(error) });
      await closeLogging();
      self.postMessage({ type: "failed", error: String(error) });
    }
  }
}
