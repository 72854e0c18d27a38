/**
 * Deadlines for many keys at O(1) per update: each key's deadline is reset
 * with every event (a meter's reading) and reported once it passes (the
 * meter went silent). Keys are grouped by their timeout; within a group,
 * insertion order is deadline order, so expiry looks only at the keys that
 * are due. Pure: the caller passes the time.
 *
 * @module
 */

/** Deadlines by key, each `timeoutMs` after its last {@link DeadlineQueue.set}. */
export class DeadlineQueue<K> {
  /** Per timeout, keys in deadline order with their deadline (epoch ms). */
  readonly #groups = new Map<number, Map<K, number>>();
  /** The timeout each key is grouped under. */
  readonly #timeouts = new Map<K, number>();

  /** Keys with a deadline. */
  get size(): number {
    return this.#timeouts.size;
  }

  /** Sets a key's deadline to `now + timeoutMs`, replacing any earlier one. */
  set(key: K, now: number, timeoutMs: number): void {
    this.delete(key);
    let group = this.#groups.get(timeoutMs);
    if (group === undefined) {
      group = new Map();
      this.#groups.set(timeoutMs, group);
    }
    // Within a group deadlines grow with time; after a clock step back, keys set
    // later wait behind this one (expiry stops at the first deadline not due).
    group.set(key, now + timeoutMs);
    this.#timeouts.set(key, timeoutMs);
  }

  /** Removes a key's deadline. */
  delete(key: K): void {
    const timeoutMs = this.#timeouts.get(key);
    if (timeoutMs === undefined) return;
    this.#timeouts.delete(key);
    const group = this.#groups.get(timeoutMs);
    group?.delete(key);
    if (group?.size === 0) this.#groups.delete(timeoutMs);
  }

  /** Removes and returns the keys whose deadline is at or before `now`. */
  expire(now: number): K[] {
    const due: K[] = [];
    for (const [timeoutMs, group] of this.#groups) {
      for (const [key, deadline] of group) {
        if (deadline > now) break;
        group.delete(key);
        this.#timeouts.delete(key);
        due.push(key);
      }
      if (group.size === 0) this.#groups.delete(timeoutMs);
    }
    return due;
  }
}
