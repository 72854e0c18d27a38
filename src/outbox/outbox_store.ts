/**
 * Where the outbox keeps publications not yet acknowledged by the central
 * broker. The implementations pass the same contract suite
 * (tests/outbox/outbox_store_contract.ts): {@link SqliteOutboxStore}, durable;
 * {@link RecordedOutboxStore}, which keeps a record beside a durable store to
 * check it against at the next start; and {@link MemoryOutboxStore}, for
 * `outbox.enabled: false`.
 *
 * @module
 */

/** A publication to make on the central broker. */
export interface Publication {
  readonly topic: string;
  readonly payload: string;
  readonly retain: boolean;
}

/** A stored publication with its place in the outbox. */
export interface OutboxEntry extends Publication {
  /** Position in arrival order; increasing, never reused. */
  readonly seq: number;
  /** When it was accepted, epoch ms. */
  readonly enqueuedAt: number;
}

/** One atomic change of the store. */
export interface OutboxWrite {
  /** Publications accepted, in order; they get increasing sequence numbers. */
  readonly append: readonly Publication[];
  /** Sequence numbers acknowledged by the central broker. */
  readonly remove: readonly number[];
  /** Meter states to keep with the entries (meter id → opaque JSON); undefined deletes one. */
  readonly meterStates: ReadonlyMap<string, string | undefined>;
  /** Acceptance time of the appended entries, epoch ms. */
  readonly now: number;
}

/** Size of the stored backlog. */
export interface OutboxSize {
  readonly entries: number;
  /** Payload bytes (UTF-8 length of topic and payload). */
  readonly bytes: number;
}

/** A store for the outbox. Every method is synchronous and atomic. */
export interface OutboxStore {
  /** Whether written entries survive a crash of the process. */
  readonly durable: boolean;
  /** Applies one write atomically; returns the appended entries. */
  write(change: OutboxWrite): OutboxEntry[];
  /** Up to `limit` entries with `seq > afterSeq`, in order. */
  read(afterSeq: number, limit: number): OutboxEntry[];
  /**
   * Deletes the oldest entries until the store holds at most `maxEntries`
   * entries and `maxBytes` bytes, and every entry accepted before
   * `notBefore`; entries in `keep` are never deleted. Returns the deleted
   * sequence numbers.
   */
  trim(
    bounds: { maxEntries: number; maxBytes: number; notBefore: number },
    keep: ReadonlySet<number>,
  ): number[];
  /** Current size. */
  size(): OutboxSize;
  /**
   * The highest sequence number given so far (0 before the first). It never
   * decreases, not even when every entry has left: a durable store that
   * reports a lower one than it did before has lost commits.
   */
  lastSeq(): number;
  /** The meter states written so far, the least recently written first. */
  meterStates(): Map<string, string>;
  /**
   * Forgets all but the `keep` most recently written meter states, so ids
   * that stopped reporting cannot grow the store without bound. Returns how
   * many were forgotten.
   */
  pruneMeterStates(keep: number): number;
  /** Releases the store. */
  close(): void;
}

/** Bytes an entry counts against `outbox.max_megabytes`. */
export function entryBytes(publication: Publication): number {
  return utf8Length(publication.topic) + utf8Length(publication.payload);
}

/**
 * Length of `text` in UTF-8, as `TextEncoder` encodes it (a lone surrogate
 * becomes U+FFFD, 3 bytes), without encoding it: this runs for every entry
 * stored and every one delivered.
 */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) {
      bytes += 1;
      continue;
    }
    // Three bytes for one UTF-16 unit, or four for a surrogate pair's two.
    bytes += 2;
    const next = text.charCodeAt(i + 1);
    if (code >= 0xd800 && code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) i++;
  }
  return bytes;
}
