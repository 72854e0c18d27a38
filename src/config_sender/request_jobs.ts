/**
 * Command requests of the bridge API and the relay switch, carried out as
 * jobs: a request becomes the meter commands it needs, waits for their
 * results and is answered with one `command_result` event. A request
 * identical to the meter's latest one in progress shares its job and its
 * answer; each meter has a bound on requests in progress, and so has the
 * whole flow. Every request is answered by its deadline (the dispatcher ends
 * its commands then) or when the flow stops.
 *
 * Pure apart from the injected clock, the answer callback and the queue the
 * commands go to.
 *
 * @module
 */
import { logger } from "../logging/setup.ts";
import {
  MAX_REQUESTS_PER_METER,
  type MeterCommandRequest,
  sameRequest,
} from "../protocol/bridge_api.ts";
import {
  clockCommand,
  type CommandKind,
  intervalReadCommand,
  type MeterCommand,
  minutesIntervalCommand,
  relayCommand,
  secondsIntervalCommand,
} from "../protocol/commands.ts";
import type { MeterId } from "../protocol/meter_id.ts";
import type { RequestResult } from "../worker/messages.ts";
import type { CommandResult } from "./command_dispatcher.ts";
import { failure, mayHaveTakenEffect, resultData } from "./command_outcome.ts";

const log = logger("config_sender");

/**
 * Requests carried out at once; more are refused until some finish. A last
 * line: each meter has its own smaller bound.
 */
export const MAX_REQUESTS = 1000;

/** What request jobs need from the flow around them. */
export interface RequestJobsPort {
  /** Current time in epoch milliseconds. */
  now(): number;
  /** A new 32-character operation id. */
  newOprid(): string;
  /** The meters' local time at an instant, as a clock command carries it. */
  meterTime(at: number): string;
  /** Why the configuration refuses a request for this meter, or `undefined`. */
  refusal(command: MeterCommandRequest): string | undefined;
  /** How long a request may take at most (ms), from the acknowledgement timeout and retries. */
  timeoutMs(): number;
  /** Queues a request's commands, to be ended by `deadline` (epoch ms). */
  enqueue(commands: readonly MeterCommand[], deadline: number): void;
  /** Answers one request. */
  answer(request: string, result: RequestResult): void;
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

/** The requests in progress, by meter. */
export class RequestJobs {
  /** Requests by meter; each waits for the next result of its command kinds. */
  readonly #jobs = new Map<MeterId, RequestJob[]>();
  #count = 0;

  constructor(readonly port: RequestJobsPort, readonly maxRequests: number = MAX_REQUESTS) {}

  /** Requests in progress (identical ones sharing a job count once). */
  get size(): number {
    return this.#count;
  }

  /**
   * Starts a request, joins it to the meter's identical latest one, or
   * refuses it at once. Its answer is due by `expiresAt` (epoch ms, the
   * requester's deadline) at the latest.
   */
  open(request: string, command: MeterCommandRequest, expiresAt?: number): void {
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
      : this.#count >= this.maxRequests
      ? `${this.maxRequests} requests are in progress; try again later`
      : this.port.refusal(command);
    if (refusal !== undefined) {
      this.port.answer(request, { ok: false, error: refusal });
      return;
    }
    const tagged = this.#commands(command).map((c): MeterCommand => ({ ...c, request }));
    jobs.push({
      request,
      requests: [request],
      command,
      pending: new Set(tagged.map((c) => c.kind)),
      data: { id },
      errors: [],
      sent: false,
    });
    this.#jobs.set(id, jobs);
    this.#count++;
    const deadline = Math.min(this.port.now() + this.port.timeoutMs(), expiresAt ?? Infinity);
    log.info("Request {request}: {action} for {id}", { request, action: command.action, id });
    this.port.enqueue(tagged, deadline);
  }

  #commands(command: MeterCommandRequest): MeterCommand[] {
    const { id } = command;
    const oprid = () => this.port.newOprid();
    switch (command.action) {
      case "sync_time":
        return [clockCommand(id, this.port.meterTime(this.port.now()), oprid())];
      case "read_interval":
        return [
          intervalReadCommand(id, "seconds", oprid()),
          intervalReadCommand(id, "minutes", oprid()),
        ];
      case "set_interval":
        return [
          ...command.seconds === undefined
            ? []
            : [secondsIntervalCommand(id, command.seconds, oprid())],
          ...command.minutes === undefined
            ? []
            : [minutesIntervalCommand(id, command.minutes, oprid())],
        ];
      case "relay":
        return [relayCommand(id, command.on, oprid())];
      default:
        return command satisfies never;
    }
  }

  /** Notes that a request's command went out (so a stop answer says it may have taken effect). */
  sent(command: MeterCommand): void {
    if (command.request === undefined) return;
    const job = this.#jobs.get(command.id)?.find((job) => job.request === command.request);
    if (job !== undefined) job.sent = true;
  }

  /** Gives each request waiting for this command kind its share of the result. */
  settle(command: MeterCommand, result: CommandResult): void {
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

  /** Answers every open request with an error saying whether its commands went out. */
  stop(): void {
    for (const job of [...this.#jobs.values()].flat()) {
      const error = job.sent
        ? `the bridge is stopping; sent, not acknowledged: ${mayHaveTakenEffect(job.command)}`
        : "the bridge is stopping; not sent";
      this.#answer(job, { ok: false, error });
    }
    this.#jobs.clear();
  }

  /** Answers every request a job carries out. */
  #answer(job: RequestJob, result: RequestResult): void {
    this.#count--;
    for (const request of job.requests) this.port.answer(request, result);
  }
}
