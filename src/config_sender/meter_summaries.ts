/**
 * What the configuration flow knows of each meter beyond its state file:
 * the latency of its last acknowledged command, the intervals acknowledged
 * since start (a request may set others than config.yaml), the last
 * request-only failure; and the summary the proxy publishes from them.
 *
 * @module
 */
import { logger } from "../logging/setup.ts";
import type { MeterCommand } from "../protocol/commands.ts";
import type { MeterId } from "../protocol/meter_id.ts";
import type { MeterConfigSummary } from "../protocol/meter_status.ts";
import type { CommandResult } from "./command_dispatcher.ts";
import { failure } from "./command_outcome.ts";
import type { MeterConfigState } from "./meter_state.ts";

const log = logger("config_sender");

/** Where a meter stands in the configuration flow, beyond its state. */
export interface MeterStanding {
  /** The meter is in `meters.exclude`. */
  readonly excluded: boolean;
  /** A configuration batch is under way for it. */
  readonly configuring: boolean;
}

/** Per-meter facts learned from command results since start. */
export class MeterSummaries {
  readonly #lastAckMs = new Map<MeterId, number>();
  readonly #lastRequestError = new Map<MeterId, string>();
  readonly #acknowledged = new Map<MeterId, { seconds?: number; minutes?: number }>();

  /** @param maxMeters meters whose acknowledged intervals are kept at most (`limits.max_meters`) */
  constructor(readonly maxMeters: () => number) {}

  /** Records an acknowledged command. */
  acknowledged(command: MeterCommand, result: CommandResult & { ok: true }): void {
    const { id } = command;
    log.info("{id} acknowledged {summary} (oprid {oprid}) after {ms} ms", {
      ...command,
      ms: Math.round(result.latencyMs),
    });
    this.#lastAckMs.set(id, result.latencyMs);
    if (command.kind === "interval_seconds" || command.kind === "interval_minutes") {
      const acknowledged = this.#acknowledged.get(id) ?? {};
      if (command.kind === "interval_seconds") acknowledged.seconds = command.value;
      else acknowledged.minutes = command.value;
      if (this.#acknowledged.size < this.maxMeters()) this.#acknowledged.set(id, acknowledged);
    }
  }

  /** Records a failed command of a request (an ALERT; the meter's state is not touched). */
  requestFailed(command: MeterCommand, result: CommandResult & { ok: false }): void {
    log.error("ALERT meter {id}: {summary} failed (oprid {oprid}): {reason}", {
      ...command,
      reason: failure(command, result),
    });
    this.#lastRequestError.set(command.id, `${command.summary}: ${failure(command, result)}`);
  }

  /** Drops a removed meter. */
  forget(id: MeterId): void {
    this.#acknowledged.delete(id);
    this.#lastAckMs.delete(id);
    this.#lastRequestError.delete(id);
  }

  /** The configuration flow's view of one meter. */
  summary(
    id: MeterId,
    meter: MeterConfigState | undefined,
    standing: MeterStanding,
  ): MeterConfigSummary {
    const configured = meter?.configured;
    const failure = meter?.last_failure;
    const failedLast = failure !== undefined &&
      (configured === undefined || failure.at > configured.at);
    const requestError = this.#lastRequestError.get(id);
    const acknowledged = this.#acknowledged.get(id);
    return {
      configuration: standing.excluded
        ? "excluded"
        : standing.configuring
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
}
