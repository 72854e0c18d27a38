/**
 * A deduplicating queue drained at a bounded rate: work per key (a meter's
 * discovery, its status) that must reach a broker, but not all at once. A
 * key queued twice is sent once, in its first position. Pure: the caller
 * drains it with the time, from a timer.
 *
 * @module
 */
import { TokenBucket, type TokenBucketOptions } from "./token_bucket.ts";

/**
 * Sends the work of one key; returns how many messages that took (0 when
 * there was nothing to send), which is what the rate counts.
 */
export type PacedSend<K> = (key: K) => number;

/** Keys waiting for their turn, sent at most `ratePerSecond` messages a second. */
export class PacedQueue<K> {
  readonly #keys = new Set<K>();
  readonly #bucket: TokenBucket;

  constructor(options: TokenBucketOptions, readonly send: PacedSend<K>, now: number) {
    this.#bucket = new TokenBucket(options, now);
  }

  /** Keys waiting. */
  get size(): number {
    return this.#keys.size;
  }

  /** Changes the rate; keys already queued keep their place. */
  setRate(options: TokenBucketOptions): void {
    this.#bucket.options = options;
  }

  /** Queues a key, unless it is queued already. */
  add(key: K): void {
    this.#keys.add(key);
  }

  /** Takes a key out of the queue without sending it. */
  delete(key: K): void {
    this.#keys.delete(key);
  }

  /** Sends keys in order while the rate allows; returns how many keys were sent. */
  drain(now: number): number {
    let sent = 0;
    for (const key of this.#keys) {
      if (!this.#bucket.take(now)) break;
      this.#keys.delete(key);
      // The token taken pays for the first message; the rest are debited.
      const messages = this.send(key);
      this.#bucket.debit(messages - 1, now);
      sent++;
    }
    return sent;
  }
}
