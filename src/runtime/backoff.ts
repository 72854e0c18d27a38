/**
 * Capped exponential backoff with jitter, for reconnects and worker restarts:
 * after an outage, thousands of clients must not retry in lockstep.
 *
 * @module
 */

/** Backoff settings, in milliseconds. */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** Random source in [0, 1); replaceable for tests. */
  readonly random?: () => number;
}

/**
 * Delays that double from `initialMs` up to `maxMs`; each is drawn uniformly
 * from the upper half of its step ("equal jitter"), so waits never collapse
 * to zero yet spread out.
 */
export class Backoff {
  #attempt = 0;

  constructor(readonly options: BackoffOptions) {}

  /** Attempts since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The next delay in milliseconds. */
  next(): number {
    const { initialMs, maxMs, random = Math.random } = this.options;
    const step = Math.min(maxMs, initialMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    return Math.round(step / 2 + random() * step / 2);
  }

  /** Starts over after a success. */
  reset(): void {
    this.#attempt = 0;
  }
}
