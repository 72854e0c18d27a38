/**
 * Holds readings until the announcements retained on central are in, so a
 * reading arriving first does not announce a known meter anew (a new
 * `first_seen`, or with replicas a claim of a meter another replica
 * handles). A persistent session hands over what it kept as soon as the
 * bridge connects, before the announcements arrive.
 *
 * @module
 */
import type { Clock } from "./central_port.ts";

/** Retained announcements count as in once none arrived for this long after subscribing. */
export const ANNOUNCEMENTS_QUIET_MS = 500;

/** Readings are held at most this long after start for the announcements (central may be down). */
export const ANNOUNCEMENTS_WAIT_MS = 10_000;

/**
 * Readings held at most while the announcements load. Unacknowledged QoS 1
 * readings are bounded by the broker's in-flight window anyway; QoS 0 ones
 * are not, hence the limit.
 */
export const MAX_HELD_READINGS = 10_000;

/** How often the quiet spell is checked once it may be over. */
const POLL_MS = 100;

/** Timers, as `setTimeout` and `clearTimeout`; tests pass fakes. */
export interface Timers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

/** The real timers. */
export const realTimers: Timers = {
  set: (callback, ms) => setTimeout(callback, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout> | undefined),
};

/** Readings waiting for the announcements; each is handed on once, in order. */
export class AnnouncementGate<R> {
  #held: R[] | undefined = [];
  #timer: unknown;

  /**
   * @param lastAnnouncementAt when the last announcement arrived (epoch ms)
   * @param release handles a reading that was held
   */
  constructor(
    readonly lastAnnouncementAt: () => number,
    readonly release: (reading: R) => void,
    readonly now: Clock,
    readonly timers: Timers = realTimers,
  ) {
    this.#timer = timers.set(() => this.open(), ANNOUNCEMENTS_WAIT_MS);
  }

  /** Whether readings are still held. */
  get closed(): boolean {
    return this.#held !== undefined;
  }

  /** Holds a reading if the announcements are not in yet; returns whether it was held. */
  hold(reading: R): boolean {
    if (this.#held === undefined) return false;
    this.#held.push(reading);
    if (this.#held.length >= MAX_HELD_READINGS) this.#releaseHeld();
    return true;
  }

  /**
   * Subscribed to the announcements (`since`, epoch ms): they are in once
   * none arrived for a quiet spell.
   */
  subscribed(since: number): void {
    const poll = () => {
      if (this.now() - Math.max(since, this.lastAnnouncementAt()) >= ANNOUNCEMENTS_QUIET_MS) {
        this.open();
      } else {
        this.#timer = this.timers.set(poll, POLL_MS);
      }
    };
    this.timers.clear(this.#timer);
    this.#timer = this.timers.set(poll, ANNOUNCEMENTS_QUIET_MS);
  }

  /** The announcements are in (or no longer awaited): held readings go on. */
  open(): void {
    this.timers.clear(this.#timer);
    this.#timer = undefined;
    this.#releaseHeld();
  }

  #releaseHeld(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const reading of held) this.release(reading);
  }
}
