/**
 * The proxy's periodic work and how often it runs. The statuses follow
 * `meters.status_interval_seconds`, which a reload may change; the stats
 * line `logging.stats_interval_seconds` (0: never).
 *
 * @module
 */

/** How often incomplete split readings are checked for expiry. */
export const EXPIRY_CHECK_MS = 5000;

/** How often the outbox is checked for entries past `outbox.max_age_hours`. */
export const OUTBOX_EXPIRY_CHECK_MS = 60_000;

/** How often `<root>/bridge/outbox` is refreshed when the outbox changed. */
export const OUTBOX_STATUS_MS = 1000;

/** How often meters are checked for silence (availability). */
export const AVAILABILITY_CHECK_MS = 1000;

/** How often the HTTP worker gets a new snapshot. */
export const SNAPSHOT_MS = 2000;

/** How often paced publications (discovery, statuses) are sent. */
export const PACE_MS = 200;

/** Intervals, as `setInterval` and `clearInterval`; tests pass fakes. */
export interface Intervals {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

/** The real intervals. */
export const realIntervals: Intervals = {
  set: (callback, ms) => setInterval(callback, ms),
  clear: (handle) => clearInterval(handle as ReturnType<typeof setInterval>),
};

/** What the proxy does periodically. */
export interface ProxyTasks {
  expireSplitReadings(): void;
  expireOutbox(): void;
  publishOutbox(): void;
  checkAvailability(): void;
  emitSnapshot(): void;
  /** Sends what the paced queues allow now. */
  pace(): void;
  publishStatuses(): void;
  logStats(): void;
}

/** Runs the tasks until stopped. */
export class ProxyTimers {
  readonly #handles: unknown[];
  #statusHandle: unknown;
  #statusSeconds: number;

  constructor(
    readonly tasks: ProxyTasks,
    statusSeconds: number,
    statsSeconds: number,
    readonly intervals: Intervals = realIntervals,
  ) {
    this.#handles = [
      intervals.set(() => tasks.expireSplitReadings(), EXPIRY_CHECK_MS),
      intervals.set(() => tasks.expireOutbox(), OUTBOX_EXPIRY_CHECK_MS),
      intervals.set(() => tasks.publishOutbox(), OUTBOX_STATUS_MS),
      intervals.set(() => tasks.checkAvailability(), AVAILABILITY_CHECK_MS),
      intervals.set(() => tasks.emitSnapshot(), SNAPSHOT_MS),
      intervals.set(() => tasks.pace(), PACE_MS),
    ];
    this.#statusSeconds = statusSeconds;
    this.#statusHandle = intervals.set(() => tasks.publishStatuses(), statusSeconds * 1000);
    if (statsSeconds > 0) {
      this.#handles.push(intervals.set(() => tasks.logStats(), statsSeconds * 1000));
    }
  }

  /** The statuses' interval from a new configuration; restarted only if it changed. */
  statusInterval(seconds: number): void {
    if (seconds === this.#statusSeconds) return;
    this.#statusSeconds = seconds;
    this.intervals.clear(this.#statusHandle);
    this.#statusHandle = this.intervals.set(() => this.tasks.publishStatuses(), seconds * 1000);
  }

  /** Stops every task. */
  stop(): void {
    for (const handle of this.#handles) this.intervals.clear(handle);
    this.intervals.clear(this.#statusHandle);
  }
}
