/**
 * The outbox in memory, for `outbox.enabled: false`: nothing is written to
 * disk, so undelivered readings are lost if the bridge crashes. The proxy then
 * acknowledges a reading to the internal broker only after the central broker
 * has it, and the internal broker's session keeps the rest.
 *
 * @module
 */
import {
  entryBytes,
  type OutboxEntry,
  type OutboxSize,
  type OutboxStore,
  type OutboxWrite,
} from "./outbox_store.ts";

/** An {@link OutboxStore} that lives as long as the process. */
export class MemoryOutboxStore implements OutboxStore {
  readonly durable = false;
  // Insertion order is sequence order: Map iteration gives the oldest first.
  readonly #entries = new Map<number, OutboxEntry & { bytes: number }>();
  readonly #meterStates = new Map<string, string>();
  #nextSeq = 1;
  #bytes = 0;

  write(change: OutboxWrite): OutboxEntry[] {
    for (const seq of change.remove) this.#delete(seq);
    const appended = change.append.map((publication) => {
      const entry = { ...publication, seq: this.#nextSeq++, enqueuedAt: change.now };
      const bytes = entryBytes(publication);
      this.#entries.set(entry.seq, { ...entry, bytes });
      this.#bytes += bytes;
      return entry;
    });
    for (const [id, state] of change.meterStates) {
      // Re-inserted, so the map's order is least recently written first.
      this.#meterStates.delete(id);
      if (state !== undefined) this.#meterStates.set(id, state);
    }
    return appended;
  }

  read(afterSeq: number, limit: number): OutboxEntry[] {
    const found: OutboxEntry[] = [];
    for (const { bytes: _, ...entry } of this.#entries.values()) {
      if (found.length >= limit) break;
      if (entry.seq > afterSeq) found.push(entry);
    }
    return found;
  }

  trim(
    bounds: { maxEntries: number; maxBytes: number; notBefore: number },
    keep: ReadonlySet<number>,
  ): number[] {
    const deleted: number[] = [];
    for (const entry of this.#entries.values()) {
      const over = this.#entries.size > bounds.maxEntries || this.#bytes > bounds.maxBytes;
      if (!over && entry.enqueuedAt >= bounds.notBefore) break;
      if (keep.has(entry.seq)) continue;
      this.#delete(entry.seq);
      deleted.push(entry.seq);
    }
    return deleted;
  }

  size(): OutboxSize {
    return { entries: this.#entries.size, bytes: this.#bytes };
  }

  lastSeq(): number {
    return this.#nextSeq - 1;
  }

  meterStates(): Map<string, string> {
    return new Map(this.#meterStates);
  }

  pruneMeterStates(keep: number): number {
    let pruned = 0;
    for (const id of this.#meterStates.keys()) {
      if (this.#meterStates.size <= keep) break;
      this.#meterStates.delete(id);
      pruned++;
    }
    return pruned;
  }

  close(): void {}

  #delete(seq: number): void {
    const entry = this.#entries.get(seq);
    if (entry === undefined) return;
    this.#entries.delete(seq);
    this.#bytes -= entry.bytes;
  }
}
