/**
 * A token bucket: the rate limit behind every paced flow of the bridge
 * (Home Assistant discovery, meter commands, status refreshes), so a mass
 * reconnect of thousands of meters cannot flood a broker. Pure: the caller
 * passes the time.
 *
 * @module
 */

/** Rate and burst of a bucket. */
export interface TokenBucketOptions {
  /** Tokens added per second; 0 is unlimited. */
  readonly ratePerSecond: number;
  /** Most tokens saved up while idle (the largest burst); at least 1. */
  readonly burst: number;
}

/**
 * Tokens refill continuously at `ratePerSecond` up to `burst`. A debit may
 * take the balance below zero (a meter's discovery is several messages, sent
 * together); the debt is paid back before the next take succeeds.
 */
export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(public options: TokenBucketOptions, now: number) {
    this.#tokens = Math.max(1, options.burst);
    this.#at = now;
  }

  /** Whether the bucket limits at all. */
  get unlimited(): boolean {
    return this.options.ratePerSecond <= 0;
  }

  /** Tokens available at `now` (may be negative after a debit). */
  available(now: number): number {
    this.#refill(now);
    return this.#tokens;
  }

  /** Takes one token if one is available at `now`. */
  take(now: number): boolean {
    if (this.unlimited) return true;
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }

  /** Debits `count` tokens at `now`, even below zero. */
  debit(count: number, now: number): void {
    if (this.unlimited) return;
    this.#refill(now);
    this.#tokens -= count;
  }

  /** Milliseconds from `now` until one token is available; 0 when one is. */
  waitMs(now: number): number {
    if (this.unlimited) return 0;
    const missing = 1 - this.available(now);
    return missing <= 0 ? 0 : Math.ceil(missing * 1000 / this.options.ratePerSecond);
  }

  #refill(now: number): void {
    const elapsed = Math.max(0, now - this.#at);
    this.#at = Math.max(this.#at, now);
    const burst = Math.max(1, this.options.burst);
    this.#tokens = Math.min(burst, this.#tokens + elapsed * this.options.ratePerSecond / 1000);
  }
}
