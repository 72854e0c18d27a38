/**
 * Split-packet reassembly: a reading may arrive as several packets with the
 * same topic, `id` and `time`; all but the last carry `isend` "0". Packets are
 * merged until the final one arrives. Pending readings are bounded in count
 * and age, so a meter that never sends its last packet cannot exhaust memory.
 *
 * @module
 */
import { mergeValues, type Reading } from "./reading.ts";

/** Bounds of the reassembly buffer. */
export interface ReassemblyLimits {
  /** Most incomplete readings held at once; the oldest is dropped beyond it. */
  readonly maxPending: number;
  /** Age after which an incomplete reading is dropped, in milliseconds. */
  readonly maxAgeMs: number;
}

/** An incomplete reading that was given up. */
export interface ExpiredReading {
  readonly reading: Reading;
  readonly packets: number;
  /** `timeout`: too old; `evicted`: the buffer was full. */
  readonly cause: "timeout" | "evicted";
}

interface Pending {
  reading: Reading;
  packets: number;
  readonly startedAt: number;
}

/** Result of adding one packet. */
export interface ReassemblyStep {
  /** The complete reading, when this packet completed one. */
  readonly complete: Reading | undefined;
  /** Incomplete readings given up while adding this packet. */
  readonly expired: readonly ExpiredReading[];
}

const NONE: readonly ExpiredReading[] = Object.freeze([]);

/** Merges split packets by (level, id, time). Pure: the caller passes the time. */
export class Reassembler {
  readonly #pending = new Map<string, Pending>();

  constructor(readonly limits: ReassemblyLimits) {}

  /** Number of incomplete readings held. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Adds a packet received at `now` (epoch ms). */
  add(packet: Reading, now: number): ReassemblyStep {
    const expired = this.#pending.size > 0 ? this.expire(now) : NONE;
    const key = `${packet.level}|${packet.id}|${packet.time}`;
    const pending = this.#pending.get(key);
    if (pending === undefined) {
      if (packet.final) return { complete: packet, expired };
      this.#pending.set(key, { reading: packet, packets: 1, startedAt: now });
      return { complete: undefined, expired: this.#evictOverflow(expired) };
    }
    const merged: Reading = {
      ...packet,
      values: mergeValues(pending.reading.values, packet.values),
    };
    if (!packet.final) {
      pending.reading = merged;
      pending.packets++;
      return { complete: undefined, expired };
    }
    this.#pending.delete(key);
    return { complete: merged, expired };
  }

  /** Drops incomplete readings older than the age limit. */
  expire(now: number): ExpiredReading[] {
    const expired: ExpiredReading[] = [];
    for (const [key, pending] of this.#pending) {
      // Insertion order is arrival order of the first packet: stop at the first young one.
      if (now - pending.startedAt < this.limits.maxAgeMs) break;
      this.#pending.delete(key);
      expired.push({ reading: pending.reading, packets: pending.packets, cause: "timeout" });
    }
    return expired;
  }

  #evictOverflow(expired: readonly ExpiredReading[]): readonly ExpiredReading[] {
    if (this.#pending.size <= this.limits.maxPending) return expired;
    const evicted = [...expired];
    for (const [key, pending] of this.#pending) {
      if (this.#pending.size <= this.limits.maxPending) break;
      this.#pending.delete(key);
      evicted.push({ reading: pending.reading, packets: pending.packets, cause: "evicted" });
    }
    return evicted;
  }
}
