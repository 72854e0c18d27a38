/**
 * The clock-drift policy: a meter the proxy reports drifting gets its clock
 * set, at most once per `meters.time_sync.min_interval_seconds`, counted
 * from the last acknowledged set and from the last set sent (so a meter that
 * never acknowledges is not sent more often), and never while a
 * configuration-flow clock set is queued or outstanding.
 *
 * @module
 */
import { logger } from "../logging/setup.ts";
import { clockCommand, type CommandKind, type MeterCommand } from "../protocol/commands.ts";
import type { MeterId } from "../protocol/meter_id.ts";
import { clockSyncAllowed, type MeterConfigState } from "./meter_state.ts";

const log = logger("config_sender");

/** What the drift policy needs from the flow around it. */
export interface ClockDriftPort {
  /** Current time in epoch milliseconds. */
  now(): number;
  /** A new 32-character operation id. */
  newOprid(): string;
  /** The meters' local time (`yyyyMMddHHmmss`) at an instant. */
  meterTime(at: number): string;
  /** `meters.time_sync.min_interval_seconds` in ms. */
  minIntervalMs(): number;
  /** `limits.max_meters`: meters whose last send is remembered at most. */
  maxMeters(): number;
  /** Whether a configuration-flow command of this kind is queued or outstanding for the meter. */
  queued(id: MeterId, kind: CommandKind): boolean;
  /** Queues a configuration-flow command. */
  enqueue(commands: readonly MeterCommand[]): void;
}

/** Sets drifting clocks, rate limited per meter. */
export class ClockDrift {
  /** When a drift-triggered clock set was last sent, per meter (the rate limit counts sends). */
  readonly #sentAt = new Map<MeterId, number>();

  constructor(readonly port: ClockDriftPort) {}

  /** Handles a drift report of `driftSeconds` for a meter with this state. */
  onDrift(id: MeterId, driftSeconds: number, meter: MeterConfigState | undefined): void {
    const now = this.port.now();
    const minIntervalMs = this.port.minIntervalMs();
    if (this.port.queued(id, "clock")) return;
    if (!clockSyncAllowed(meter, now, minIntervalMs)) return;
    const sentAt = this.#sentAt.get(id);
    if (sentAt !== undefined && now - sentAt < minIntervalMs) return;
    log.info("Clock of {id} is off by {drift} s; setting it", { id, drift: driftSeconds });
    // Counts from the send, so a meter that never acknowledges is not sent more often.
    if (this.#sentAt.size >= this.port.maxMeters()) this.#sentAt.clear();
    this.#sentAt.set(id, now);
    this.port.enqueue([clockCommand(id, this.port.meterTime(now), this.port.newOprid())]);
  }

  /** A clock set was acknowledged: the acknowledgement now rules the next one. */
  acknowledged(id: MeterId): void {
    this.#sentAt.delete(id);
  }

  /** Drops a removed meter. */
  forget(id: MeterId): void {
    this.#sentAt.delete(id);
  }
}
