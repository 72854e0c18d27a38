/**
 * The timer behind mqtt.js's keepalive (its `timerVariant` option).
 *
 * mqtt.js restarts its keepalive interval on every acknowledgement it
 * receives: a `clear` and then a `set`. With the platform's timers that is a
 * cleared and a new interval per packet, about 5 % of the proxy's CPU in a
 * burst. This timer behaves the same — the callback runs every `ms`, counted
 * from the latest `set` — but keeps one pending timeout: a restart notes the
 * time, and a timeout that fires before the callback is due waits for the
 * remainder. A `clear` not followed by a `set` in the same turn cancels the
 * timeout, so a closed connection leaves no timer behind.
 *
 * @module
 */

/** The clock and timeouts a {@link KeepaliveTimer} runs on (tests pass their own). */
export interface TimerScheduler {
  /** Milliseconds, monotonic enough for intervals of seconds. */
  now(): number;
  /** Runs `callback` once after `ms`; returns a handle for `clearTimeout`. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a timeout of {@link TimerScheduler.setTimeout}. */
  clearTimeout(handle: unknown): void;
}

const PLATFORM: TimerScheduler = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** One restartable interval, with the `set`/`clear` shape mqtt.js expects of a timer. */
export class KeepaliveTimer {
  readonly #scheduler: TimerScheduler;
  /** The id `set` returned last; 0 before the first. */
  #id = 0;
  #active = false;
  #callback: () => void = () => {};
  #ms = 0;
  /** When the callback is due. */
  #due = 0;
  #timeout: unknown;
  /** When the pending timeout fires. */
  #firesAt = 0;

  /** @param scheduler the clock and timeouts; the platform's by default */
  constructor(scheduler: TimerScheduler = PLATFORM) {
    this.#scheduler = scheduler;
  }

  /** Starts (or restarts) the interval: `callback` every `ms` from now. Returns its id. */
  readonly set = (callback: () => void, ms: number): number => {
    this.#id++;
    this.#active = true;
    this.#callback = callback;
    this.#ms = ms;
    this.#due = this.#scheduler.now() + ms;
    if (this.#timeout !== undefined && this.#firesAt > this.#due) this.#cancel();
    if (this.#timeout === undefined) this.#arm(ms);
    return this.#id;
  };

  /** Stops the interval `id`; an id other than the latest one is ignored. */
  readonly clear = (id: number): void => {
    if (id !== this.#id || !this.#active) return;
    this.#active = false;
    // A restart is a clear and a set in the same turn: the timeout stays for it.
    queueMicrotask(() => {
      if (!this.#active) this.#cancel();
    });
  };

  #arm(ms: number): void {
    this.#firesAt = this.#scheduler.now() + ms;
    this.#timeout = this.#scheduler.setTimeout(() => this.#fire(), ms);
  }

  #cancel(): void {
    if (this.#timeout === undefined) return;
    this.#scheduler.clearTimeout(this.#timeout);
    this.#timeout = undefined;
  }

  #fire(): void {
    this.#timeout = undefined;
    if (!this.#active) return;
    const now = this.#scheduler.now();
    if (now < this.#due) {
      this.#arm(this.#due - now);
      return;
    }
    this.#due = now + this.#ms;
    this.#arm(this.#ms);
    this.#callback();
  }
}
