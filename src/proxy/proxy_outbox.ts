/**
 * The proxy's outbox: opened from `outbox.*` with what opening it found (a
 * problem reported until the operator acknowledges it), the logs about its
 * backlog and drops, and what it holds for the bridge topics and snapshots.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { Config } from "../config/schema.ts";
import type { WarnLimited } from "../logging/rate_limit.ts";
import { type OpenedOutbox, openOutboxStore } from "../outbox/open_outbox_store.ts";
import { Outbox, type OutboxOptions, type OutboxStatus } from "../outbox/outbox.ts";
import type { OutboxProblem } from "../outbox/outbox_problem.ts";
import type { MeterId } from "../protocol/meter_id.ts";
import type { Clock } from "./central_port.ts";
import type { ReadingPipeline } from "./pipeline.ts";

/** What the outbox needs from the proxy. */
export type ProxyOutboxPort = Pick<OutboxOptions, "publish" | "onDelivered" | "meterState">;

/** The outbox, its problem and its logs. */
export class ProxyOutbox {
  readonly outbox: Outbox;
  /** What was wrong with the outbox at start, reported until acknowledged. */
  #problem: OutboxProblem | undefined;

  constructor(
    readonly config: () => Config,
    opened: OpenedOutbox,
    port: ProxyOutboxPort,
    readonly log: Logger,
    now?: Clock,
  ) {
    for (const notice of opened.notices) log.warn("{notice}", { notice });
    this.#problem = opened.problem;
    if (opened.problem !== undefined) {
      log.error("{description}", {
        description: opened.problem.message,
        outbox_problem: opened.problem,
      });
    }
    const { outbox } = config();
    this.outbox = new Outbox({
      store: opened.store,
      maxEntries: outbox.max_entries,
      maxBytes: outbox.max_megabytes * 1024 * 1024,
      maxAgeMs: outbox.max_age_hours * 3_600_000,
      maxMeterStates: config().limits.max_meters,
      drainRatePerSecond: outbox.drain_rate_per_second,
      ...port,
      onDropped: (count, cause) => this.#dropped(count, cause),
      ...(now === undefined ? {} : { now }),
    });
    const backlog = this.outbox.status();
    if (backlog.entries > 0) {
      log.info("Outbox holds {entries} readings from before the restart; delivering them", {
        entries: backlog.entries,
      });
    }
  }

  /**
   * Opens the outbox `outbox.*` configures. `restore` gets the meter states
   * it kept (the plausibility filters' history) before anything is pruned.
   * Failing to write the record beside the outbox is only warned about.
   */
  static open(
    config: () => Config,
    port: ProxyOutboxPort,
    restore: (meterStates: ReadonlyMap<string, string>) => void,
    log: Logger,
    warnLimited: WarnLimited,
  ): ProxyOutbox {
    const opened = openOutboxStore(config(), {
      onRecordError: (error) =>
        warnLimited(
          "outbox_record",
          "Cannot write the outbox record beside the outbox: {error}; the check at the next " +
            "start is less precise",
          { error: error.message },
        ),
      onWalFlushError: (error) =>
        warnLimited(
          "outbox_flush",
          "Cannot flush the outbox's write-ahead log to disk: {error}; a power cut may take more " +
            "than the last second of readings. Check the disk of state_dir",
          { error: error.message },
        ),
    });
    restore(opened.store.meterStates());
    return new ProxyOutbox(config, opened, port, log);
  }

  /** What is wrong with the outbox, until acknowledged. */
  get problem(): OutboxProblem | undefined {
    return this.#problem;
  }

  /** What the bridge topics and snapshots report. */
  report(): { status: OutboxStatus; durable: boolean; problem: OutboxProblem | undefined } {
    return { status: this.outbox.status(), durable: this.outbox.durable, problem: this.#problem };
  }

  /** Central is up: delivery starts, the backlog at the configured pace. */
  connected(): void {
    this.outbox.setConnected(true);
    const backlog = this.outbox.backlog;
    if (backlog > 0) {
      const rate = this.config().outbox.drain_rate_per_second;
      this.log.info(
        "Delivering the outbox backlog of {backlog} readings at {rate}/s (outbox.drain_rate_per_second), " +
          "new readings as they arrive: about {minutes} min",
        { backlog, rate, minutes: Math.ceil(backlog / rate / 60) },
      );
    }
  }

  /**
   * The bridge API's `meter/reset_history`: forgets the meter's filter
   * history in memory and, with the next batch, in the outbox.
   */
  resetHistory(
    id: MeterId,
    pipeline: Pick<ReadingPipeline, "forgetHistory">,
  ): { id: MeterId; forgotten: boolean } {
    const forgotten = pipeline.forgetHistory(id);
    this.outbox.rewriteMeterState(id);
    this.log.warn(
      "Filter history of {id} cleared on request: its next readings are taken as they come",
      { id },
    );
    return { id, forgotten };
  }

  /**
   * The bridge API's `outbox/acknowledge`: the operator has seen the problem
   * (restored what could be, or accepted the loss); returns what it was.
   */
  acknowledge(): OutboxProblem | undefined {
    const problem = this.#problem;
    if (problem === undefined) return undefined;
    this.#problem = undefined;
    this.log.warn("Outbox problem acknowledged ({kind} of {file}, found {since})", {
      kind: problem.kind,
      file: problem.file,
      since: problem.since,
    });
    return problem;
  }

  #dropped(count: number, cause: "full" | "expired"): void {
    const { outbox } = this.config();
    const status = this.outbox.status();
    this.log.warn(
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
}
