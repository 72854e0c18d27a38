/**
 * Configuration batches: which commands a meter is due (both upload
 * intervals, and its clock unless set recently), one batch per meter under
 * way, the bookkeeping of each batch's results into the meter's state, and
 * the queue of meters due while every batch slot is taken.
 *
 * Meters due wait as ids and become batches of commands only as slots free,
 * so a whole fleet due at midnight (or reconnecting at once) costs an id
 * each, not three queued commands each.
 *
 * Pure apart from the injected clock and the ports it is given.
 *
 * @module
 */
import { meterSettings } from "../config/meter_settings.ts";
import type { MetersConfig } from "../config/schema.ts";
import { logger } from "../logging/setup.ts";
import {
  clockCommand,
  type CommandKind,
  type MeterCommand,
  minutesIntervalCommand,
  secondsIntervalCommand,
} from "../protocol/commands.ts";
import type { MeterId } from "../protocol/meter_id.ts";
import type { CommandResult } from "./command_dispatcher.ts";
import {
  type AppliedSettings,
  clockSetRecently,
  type ConfigSenderState,
  configurationDue,
  consecutiveFailures,
  type MeterConfigState,
} from "./meter_state.ts";

const log = logger("config_sender");

/** What configuration batches need from the flow around them. */
export interface ConfigBatchesPort {
  /** Current time in epoch milliseconds. */
  now(): number;
  /** A new 32-character operation id. */
  newOprid(): string;
  /** The meters' local time (`yyyyMMddHHmmss`) at an instant. */
  meterTime(at: number): string;
  /** The `meters` section of the current configuration. */
  meters(): MetersConfig;
  /** The loaded state, or `undefined` before it is read. */
  state(): ConfigSenderState | undefined;
  /** Queues configuration-flow commands (no deadline). */
  enqueue(commands: readonly MeterCommand[]): void;
  /** Whether a configuration-flow command of this kind is queued or outstanding for the meter. */
  queued(id: MeterId, kind: CommandKind): boolean;
  /** Tells the proxy where a meter's configuration stands. */
  report(id: MeterId): void;
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

/** Batches under way and meters waiting for one. */
export class ConfigBatches {
  readonly #batches = new Map<MeterId, Batch>();
  /** Meters due for configuration that wait for a batch slot, with what triggered them. */
  readonly #due = new Map<MeterId, string>();

  constructor(readonly port: ConfigBatchesPort) {}

  /** Whether a batch is under way for the meter. */
  has(id: MeterId): boolean {
    return this.#batches.has(id);
  }

  /** Meters waiting for a batch slot. */
  get waiting(): number {
    return this.#due.size;
  }

  /** Batches under way at once: enough to keep every dispatcher slot busy. */
  #maxBatches(): number {
    return 2 * this.port.meters().max_parallel_commands;
  }

  #today(): string {
    return this.port.meterTime(this.port.now()).slice(0, 8);
  }

  /** Checks each of the meters. */
  checkAll(ids: Iterable<MeterId>, trigger: string): void {
    for (const id of ids) this.check(id, trigger);
  }

  /**
   * Sends a meter its configuration when the send policy says so, or queues
   * it until a batch slot is free.
   */
  check(id: MeterId, trigger: string): void {
    const state = this.port.state();
    if (state === undefined || this.#batches.has(id) || this.#due.has(id)) return;
    if (this.#batches.size >= this.#maxBatches()) {
      this.#due.set(id, trigger);
      return;
    }
    const meters = this.port.meters();
    if (meters.exclude.includes(id)) return;
    const effective = meterSettings(meters, id);
    const settings: AppliedSettings = {
      upload_interval_seconds: effective.uploadIntervalSeconds,
      upload_interval_minutes: effective.uploadIntervalMinutes,
    };
    const now = this.port.now();
    const reason = configurationDue(state.meters[id], settings, this.#today(), now);
    if (reason === undefined) return;
    log.info("Configuring {id} ({trigger}: {reason})", { id, trigger, reason });
    const commands: MeterCommand[] = [
      secondsIntervalCommand(id, settings.upload_interval_seconds, this.port.newOprid()),
      minutesIntervalCommand(id, settings.upload_interval_minutes, this.port.newOprid()),
    ];
    const pending = new Set<CommandKind>(["interval_seconds", "interval_minutes"]);
    // A clock set on its way (a drift report came first) serves this batch too; one just
    // acknowledged makes another pointless.
    if (this.port.queued(id, "clock")) {
      pending.add("clock");
    } else if (!clockSetRecently(state.meters[id], now)) {
      pending.add("clock");
      commands.push(clockCommand(id, this.port.meterTime(now), this.port.newOprid()));
    }
    this.#batches.set(id, {
      settings,
      day: this.#today(),
      pending,
      clock: pending.has("clock"),
      previousFailures: consecutiveFailures(state.meters[id]),
      failed: false,
    });
    this.port.enqueue(commands);
    this.port.report(id);
  }

  /** Checks waiting meters, oldest first, while batch slots are free. */
  startDue(): void {
    for (const [id, trigger] of this.#due) {
      if (this.#batches.size >= this.#maxBatches()) return;
      this.#due.delete(id);
      this.check(id, trigger);
    }
  }

  /** Drops a removed meter from the queue of meters due. */
  forget(id: MeterId): void {
    this.#due.delete(id);
  }

  /**
   * Takes a configuration-flow command's kind off its meter's batch; returns
   * whether the batch was waiting for it. Called before {@link settle}.
   */
  claim(command: MeterCommand): boolean {
    if (command.request !== undefined) return false;
    return this.#batches.get(command.id)?.pending.delete(command.kind) ?? false;
  }

  /**
   * Records a configuration-flow command's result in the meter's state: a
   * failure (ALERT, counted once per batch) and, once the batch's last
   * command settled, the configuration acknowledged. `inBatch` is what
   * {@link claim} returned; `at` is the result's time (ISO).
   */
  settle(
    command: MeterCommand,
    result: CommandResult,
    meter: MeterConfigState,
    at: string,
    inBatch: boolean,
  ): void {
    if (command.request !== undefined) return;
    const { id } = command;
    const batch = this.#batches.get(id);
    if (!result.ok) {
      log.error(
        "ALERT meter {id}: {summary} failed (oprid {oprid}, command {kind}): {reason}",
        { ...command, reason: result.reason },
      );
      // A failed batch counts once however many of its commands fail.
      const before = inBatch ? batch!.previousFailures : consecutiveFailures(meter);
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
    if (!inBatch || batch === undefined) return;
    batch.failed ||= !result.ok;
    if (batch.pending.size > 0) return;
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
    this.check(id, "configuration changed");
    this.startDue();
  }
}
