/**
 * The pace of an outbox drain after an outage.
 *
 * What the outbox holds when central connects (the backlog) leaves at
 * `drainRatePerSecond`, at most {@link DRAIN_BURST_SECONDS} of it at once;
 * readings accepted meanwhile each bring a credit and leave at the pace they
 * arrive. Central's broker acknowledges a publication before its subscribers
 * have it, and silently drops what overflows a slow subscriber's queue; only
 * the pace protects them.
 *
 * Pure: the outbox owns the timers, this only counts against a clock.
 *
 * @module
 */

/**
 * Most backlog publications sent at once, as a share of a second's worth at
 * `drainRatePerSecond`: a late timer or a busy event loop is made up for by
 * a burst of at most this, not of a whole second.
 */
export const DRAIN_BURST_SECONDS = 0.1;

/** Backlog, credits and rate tokens of one connection to central. */
export class DrainPace {
  readonly #rate: number;
  readonly #now: () => number;
  /** Publications still to be paced: what was held at connection, less what was sent of it. */
  #backlog = 0;
  /** Publications accepted while {@link #backlog} lasts and not yet matched by a send. */
  #credits = 0;
  #tokens = 0;
  #tokensAt = 0;

  /**
   * @param rate backlog publications per second; 0 is unlimited (there is never a backlog)
   * @param now the clock, epoch ms
   */
  constructor(rate: number, now: () => number) {
    this.#rate = rate;
    this.#now = now;
  }

  /**
   * Publications of the backlog still to be sent (0 when there is none, or
   * the rate is unlimited).
   */
  get backlog(): number {
    return this.#backlog;
  }

  /** How long to wait for the next token once {@link take} refused, ms. */
  get waitMs(): number {
    return Math.ceil(1000 / this.#rate);
  }

  /**
   * Central connected at `at` (epoch ms): a new drain of what the outbox
   * holds then. `held` is asked only when the rate is limited.
   */
  start(at: number, held: () => number): void {
    this.#tokens = 0;
    this.#tokensAt = at;
    this.#credits = 0;
    this.#backlog = this.#rate > 0 ? Math.max(0, held()) : 0;
  }

  /** Central was lost: no drain until the next {@link start}. */
  stop(): void {
    this.#backlog = 0;
    this.#credits = 0;
  }

  /** `count` publications were accepted; during a drain they pass at their own pace. */
  accepted(count: number): void {
    if (this.#backlog > 0) this.#credits += count;
  }

  /** The backlog and the credits are at most what the store holds (dropped entries need no pace). */
  clip(held: number): void {
    this.#backlog = Math.min(this.#backlog, held);
    this.#credits = this.#backlog === 0 ? 0 : Math.min(this.#credits, held - this.#backlog);
  }

  /**
   * Whether one more publication may be sent now: always without a backlog;
   * during a drain on a credit (a reading accepted meanwhile) or a token of
   * the rate. False when neither is left: wait {@link waitMs}.
   */
  take(): boolean {
    if (this.#backlog === 0) return true;
    if (this.#credits > 0) {
      this.#credits--;
      return true;
    }
    if (!this.#takeToken()) return false;
    if (--this.#backlog === 0) this.#credits = 0;
    return true;
  }

  #takeToken(): boolean {
    const rate = this.#rate;
    const now = this.#now();
    const burst = Math.max(1, rate * DRAIN_BURST_SECONDS);
    this.#tokens = Math.min(burst, this.#tokens + (now - this.#tokensAt) * rate / 1000);
    this.#tokensAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }
}
