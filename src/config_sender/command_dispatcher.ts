/**
 * Sends meter commands and matches their acknowledgements: one outstanding
 * command per meter, at most `maxParallel` meters busy at once, at most
 * `ratePerSecond` commands sent a second (so meters that acknowledge fast
 * cannot turn a fleet's configuration into a burst), a timeout per attempt
 * and retries with backoff. A reply with code "02" is a final failure: the
 * meter refused the value, repeating it cannot help.
 *
 * A command may carry a deadline (a request's, whose answer is due then).
 * It is sent, or sent again, only while a whole acknowledgement timeout fits
 * before it; at the deadline it ends, and its result says whether it ever
 * went out. Once ended, nothing sends it again: a relay the user was told
 * did not switch never switches later.
 *
 * Meters take turns: once a meter's command ends, its next one waits behind
 * the other meters' first, so one meter's backlog never holds up another.
 *
 * @module
 */
import { type CommandKind, matchReply, type MeterCommand } from "../protocol/commands.ts";
import type { MeterId } from "../protocol/meter_id.ts";
import type { CommandReply } from "../protocol/uplink.ts";
import { Backoff } from "../runtime/backoff.ts";
import { TokenBucket } from "../runtime/token_bucket.ts";

/** How a command ended. */
export type CommandResult =
  | {
    readonly ok: true;
    readonly attempts: number;
    /** The meter's reply (read commands carry their value in it). */
    readonly reply: CommandReply;
    /** Milliseconds from the last attempt's send to the reply. */
    readonly latencyMs: number;
  }
  | {
    readonly ok: false;
    /** Times the command was sent; 0: it never went out. */
    readonly attempts: number;
    /**
     * `refused`: the meter replied it did not apply it; `unanswered`: sent
     * and never acknowledged, so the meter may have applied it; `not_sent`.
     */
    readonly outcome: "refused" | "unanswered" | "not_sent";
    readonly reason: string;
  };

/** Limits of a dispatcher, changeable while it runs. */
export interface DispatcherLimits {
  readonly ackTimeoutMs: number;
  /** Attempts after the first. */
  readonly retries: number;
  readonly maxParallel: number;
  /** Commands sent per second at most, retries included; 0 or absent is unlimited. */
  readonly ratePerSecond?: number;
}

/** Settings and hooks of a dispatcher. */
export interface DispatcherOptions extends DispatcherLimits {
  /** First pause between a timeout and the next attempt; doubles per attempt. */
  readonly retryDelayMs?: number;
  /**
   * Publishes a command (QoS 1) on the internal broker and returns what was
   * sent: a clock command is re-stamped with the time it actually goes out.
   */
  readonly send: (command: MeterCommand) => MeterCommand;
  readonly onResult: (command: MeterCommand, result: CommandResult) => void;
  /** Current time in epoch milliseconds, for the rate. */
  readonly now?: () => number;
}

/** A command waiting for its turn, with the deadline it must be answered by. */
interface Queued {
  readonly command: MeterCommand;
  /** Epoch ms; absent: no deadline (the configuration flow retries by its own rules). */
  readonly deadline?: number;
}

interface Outstanding extends Queued {
  command: MeterCommand;
  attempts: number;
  sentAt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  readonly backoff: Backoff;
}

/** Characters of a meter's failure message kept. */
const MAX_MESSAGE = 200;

/** Per-meter command queues under a global limit. */
export class CommandDispatcher {
  readonly #queues = new Map<MeterId, Queued[]>();
  readonly #outstanding = new Map<MeterId, Outstanding>();
  /** Meters with queued commands waiting for a free slot, in arrival order. */
  readonly #waiting = new Set<MeterId>();
  #stopped = false;
  #limits: DispatcherLimits;
  readonly #rate: TokenBucket;
  readonly #now: () => number;
  /** Pumps again once the rate allows the next command. */
  #pumpTimer: ReturnType<typeof setTimeout> | undefined;
  /** Ends commands whose deadline passed; due at the earliest deadline. */
  #deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  #deadlineDue = Infinity;

  constructor(readonly options: DispatcherOptions) {
    this.#limits = options;
    this.#now = options.now ?? Date.now;
    this.#rate = new TokenBucket(bucket(options), this.#now());
  }

  /** Applies new limits: to the next attempt of each command, and to free slots at once. */
  setLimits(limits: DispatcherLimits): void {
    this.#limits = {
      ackTimeoutMs: limits.ackTimeoutMs,
      retries: limits.retries,
      maxParallel: limits.maxParallel,
      ratePerSecond: limits.ratePerSecond,
    };
    this.#rate.options = bucket(limits);
    this.#pump();
  }

  /** Meters with a command awaiting its acknowledgement. */
  get busyMeters(): number {
    return this.#outstanding.size;
  }

  /** Commands queued but not yet sent. */
  get queuedCommands(): number {
    let count = 0;
    for (const queue of this.#queues.values()) count += queue.length;
    return count;
  }

  /** Whether a configuration-flow command of this kind is queued or outstanding for the meter. */
  has(id: MeterId, kind: CommandKind): boolean {
    const outstanding = this.#outstanding.get(id)?.command;
    return (outstanding?.kind === kind && outstanding.request === undefined) ||
      (this.#queues.get(id) ?? []).some(({ command: c }) =>
        c.kind === kind && c.request === undefined
      );
  }

  /**
   * Queues commands for their meters, each to be answered by `deadline`
   * (epoch ms) if given. A queued (not yet sent) command of the same kind for
   * the same meter and the same request (or none) is replaced: only the
   * newest value matters. A request's command never replaces the
   * configuration flow's, nor the other way round.
   */
  enqueue(commands: readonly MeterCommand[], deadline?: number): void {
    for (const command of commands) {
      const queue = this.#queues.get(command.id) ?? [];
      const entry: Queued = deadline === undefined ? { command } : { command, deadline };
      const same = queue.findIndex(({ command: c }) =>
        c.kind === command.kind && c.request === command.request
      );
      if (same >= 0) queue[same] = entry;
      else queue.push(entry);
      this.#queues.set(command.id, queue);
      this.#waiting.add(command.id);
    }
    if (deadline !== undefined) this.#armDeadline(deadline);
    this.#pump();
  }

  /** Offers a reply; returns whether it settled an outstanding command. */
  handleReply(topic: string, reply: CommandReply): boolean {
    const outstanding = this.#outstanding.get(reply.id);
    if (outstanding === undefined) return false;
    const outcome = matchReply(outstanding.command, topic, reply);
    if (outcome === "unrelated") return false;
    if (outcome === "success") {
      this.#finish(outstanding, {
        ok: true,
        attempts: outstanding.attempts,
        reply,
        latencyMs: Math.max(0, performance.now() - outstanding.sentAt),
      });
    } else {
      // A meter's message is clipped: it travels on in results and states, between processes too.
      const detail = reply.msg ? `: ${reply.msg.slice(0, MAX_MESSAGE)}` : "";
      this.#finish(outstanding, {
        ok: false,
        attempts: outstanding.attempts,
        outcome: "refused",
        reason: `meter replied code ${reply.code}${detail}`,
      });
    }
    return true;
  }

  /** Cancels all timers; queued and outstanding commands are abandoned. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#pumpTimer);
    clearTimeout(this.#deadlineTimer);
    for (const outstanding of this.#outstanding.values()) clearTimeout(outstanding.timer);
    this.#outstanding.clear();
    this.#queues.clear();
    this.#waiting.clear();
  }

  #pump(): void {
    if (this.#stopped) return;
    for (const id of this.#waiting) {
      if (this.#outstanding.size >= this.#limits.maxParallel) return;
      if (this.#outstanding.has(id)) continue;
      if (!this.#rate.take(this.#now())) {
        this.#pumpLater();
        return;
      }
      const queue = this.#queues.get(id);
      const next = queue?.shift();
      if (queue?.length === 0) {
        this.#queues.delete(id);
        this.#waiting.delete(id);
      }
      if (next === undefined || !this.#fits(next)) {
        this.#rate.debit(-1, this.#now()); // the token goes back
        if (next !== undefined) this.#notSent(next);
        continue;
      }
      const outstanding: Outstanding = {
        ...next,
        attempts: 0,
        sentAt: 0,
        timer: undefined,
        backoff: new Backoff({
          initialMs: this.options.retryDelayMs ?? 1000,
          maxMs: 60_000,
        }),
      };
      this.#outstanding.set(id, outstanding);
      this.#attempt(outstanding);
    }
  }

  #pumpLater(): void {
    if (this.#pumpTimer !== undefined) return;
    this.#pumpTimer = setTimeout(() => {
      this.#pumpTimer = undefined;
      this.#pump();
    }, Math.max(1, this.#rate.waitMs(this.#now())));
  }

  /** Whether a whole acknowledgement timeout fits before the command's deadline. */
  #fits(entry: Queued): boolean {
    return entry.deadline === undefined ||
      this.#now() + this.#limits.ackTimeoutMs <= entry.deadline;
  }

  /** Ends a command that never went out, without sending it. */
  #notSent({ command, deadline }: Queued): void {
    const late = deadline !== undefined && this.#now() >= deadline;
    this.options.onResult(command, {
      ok: false,
      attempts: 0,
      outcome: "not_sent",
      reason: late
        ? "not sent: earlier commands to the meter took the time"
        : "not sent: too little time left for an acknowledgement",
    });
  }

  #armDeadline(deadline: number): void {
    if (deadline >= this.#deadlineDue || this.#stopped) return;
    clearTimeout(this.#deadlineTimer);
    this.#deadlineDue = deadline;
    this.#deadlineTimer = setTimeout(
      () => this.#expire(),
      Math.max(0, deadline - this.#now()),
    );
  }

  /** Ends every command whose deadline passed and arms the timer for the next deadline. */
  #expire(): void {
    this.#deadlineDue = Infinity;
    this.#deadlineTimer = undefined;
    const now = this.#now();
    let next = Infinity;
    for (const [id, queue] of this.#queues) {
      const expired = queue.filter((entry) => (entry.deadline ?? Infinity) <= now);
      if (expired.length === 0) {
        for (const entry of queue) next = Math.min(next, entry.deadline ?? Infinity);
        continue;
      }
      const kept = queue.filter((entry) => !expired.includes(entry));
      if (kept.length === 0) {
        this.#queues.delete(id);
        this.#waiting.delete(id);
      } else {
        this.#queues.set(id, kept);
        for (const entry of kept) next = Math.min(next, entry.deadline ?? Infinity);
      }
      for (const entry of expired) this.#notSent(entry);
    }
    for (const outstanding of [...this.#outstanding.values()]) {
      const deadline = outstanding.deadline ?? Infinity;
      if (deadline > now) {
        next = Math.min(next, deadline);
        continue;
      }
      this.#finish(outstanding, {
        ok: false,
        attempts: outstanding.attempts,
        outcome: "unanswered",
        reason: `no acknowledgement in time after ${attempts(outstanding.attempts)}`,
      });
    }
    if (next !== Infinity) this.#armDeadline(next);
    this.#pump();
  }

  #attempt(outstanding: Outstanding): void {
    if (!this.#fits(outstanding)) {
      this.#finish(outstanding, {
        ok: false,
        attempts: outstanding.attempts,
        outcome: "unanswered",
        reason: `no acknowledgement in time after ${attempts(outstanding.attempts)}`,
      });
      return;
    }
    // The first attempt took its token when it was pumped; a retry pays as it goes.
    if (outstanding.attempts > 0) this.#rate.debit(1, this.#now());
    outstanding.attempts++;
    outstanding.sentAt = performance.now();
    outstanding.command = this.options.send(outstanding.command);
    outstanding.timer = setTimeout(() => this.#timedOut(outstanding), this.#limits.ackTimeoutMs);
  }

  #timedOut(outstanding: Outstanding): void {
    if (outstanding.attempts > this.#limits.retries) {
      this.#finish(outstanding, {
        ok: false,
        attempts: outstanding.attempts,
        outcome: "unanswered",
        reason: `no acknowledgement after ${attempts(outstanding.attempts)}`,
      });
      return;
    }
    outstanding.timer = setTimeout(() => this.#attempt(outstanding), outstanding.backoff.next());
  }

  #finish(outstanding: Outstanding, result: CommandResult): void {
    clearTimeout(outstanding.timer);
    const { id } = outstanding.command;
    this.#outstanding.delete(id);
    // The meter just had its turn: its next command waits behind the other meters' first.
    if (this.#waiting.delete(id)) this.#waiting.add(id);
    this.options.onResult(outstanding.command, result);
    this.#pump();
  }
}

function attempts(n: number): string {
  return n === 1 ? "1 attempt" : `${n} attempts`;
}

function bucket(limits: DispatcherLimits) {
  const rate = limits.ratePerSecond ?? 0;
  return { ratePerSecond: rate, burst: Math.max(1, rate) };
}
