/**
 * A durable outbox store that keeps its record (see `outbox_record.ts`)
 * current: written when opened, after commits at most once per interval (a
 * commit within the interval is recorded at its end), and at close. When the
 * store reports damage, the record says so before the error goes on, so the
 * next start moves the file aside instead of running into the same damage
 * again — the worker restarts once, not in a loop.
 *
 * @module
 */
import { type OutboxRecord, writeOutboxRecord } from "./outbox_record.ts";
import type { OutboxEntry, OutboxSize, OutboxStore, OutboxWrite } from "./outbox_store.ts";
import { OutboxCorruptError } from "./sqlite_outbox_store.ts";

/** Settings of a {@link RecordedOutboxStore}. */
export interface RecordOptions {
  /** Least time between two record writes while running (1000 ms by default). */
  readonly intervalMs?: number;
  /** The clock, epoch ms (tests set it). */
  readonly now?: () => number;
  /**
   * Called when the record cannot be written; the store goes on (a record
   * that lags keeps the check at the next start valid, only less precise).
   */
  readonly onRecordError?: (error: Error) => void;
}

/** An {@link OutboxStore} whose record beside `databasePath` follows its commits. */
export class RecordedOutboxStore implements OutboxStore {
  readonly #store: OutboxStore;
  readonly #databasePath: string;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #onRecordError: (error: Error) => void;
  #recordedAt = -Infinity;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** The store reported damage: the record keeps saying so. */
  #failed = false;

  /**
   * Wraps `store`, the outbox at `databasePath`, and writes its record now:
   * what was opened is the reference for the next start.
   */
  constructor(store: OutboxStore, databasePath: string, options: RecordOptions = {}) {
    this.#store = store;
    this.#databasePath = databasePath;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#now = options.now ?? Date.now;
    this.#onRecordError = options.onRecordError ?? (() => {});
    this.#record(true);
  }

  get durable(): boolean {
    return this.#store.durable;
  }

  write(change: OutboxWrite): OutboxEntry[] {
    const appended = this.#guard(() => this.#store.write(change));
    this.#changed();
    return appended;
  }

  read(afterSeq: number, limit: number): OutboxEntry[] {
    return this.#guard(() => this.#store.read(afterSeq, limit));
  }

  trim(
    bounds: { maxEntries: number; maxBytes: number; notBefore: number },
    keep: ReadonlySet<number>,
  ): number[] {
    const dropped = this.#guard(() => this.#store.trim(bounds, keep));
    if (dropped.length > 0) this.#changed();
    return dropped;
  }

  size(): OutboxSize {
    return this.#store.size();
  }

  lastSeq(): number {
    return this.#store.lastSeq();
  }

  meterStates(): Map<string, string> {
    return this.#guard(() => this.#store.meterStates());
  }

  pruneMeterStates(keep: number): number {
    return this.#guard(() => this.#store.pruneMeterStates(keep));
  }

  /** Closes the store, then writes the final record and waits for the disk. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#store.close();
    if (!this.#failed) this.#record(true);
  }

  /** Runs a call of the store; damage it reports is recorded before it goes on. */
  #guard<T>(call: () => T): T {
    try {
      return call();
    } catch (error) {
      if (error instanceof OutboxCorruptError && !this.#failed && !this.#closed) {
        this.#failed = true;
        clearTimeout(this.#timer);
        this.#record(true, error.reason);
      }
      throw error;
    }
  }

  /** A commit happened: record it now, or at the end of the interval. */
  #changed(): void {
    if (this.#timer !== undefined || this.#closed || this.#failed) return;
    const wait = this.#recordedAt + this.#intervalMs - this.#now();
    if (wait <= 0) {
      this.#record(false);
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed && !this.#failed) this.#record(false);
    }, wait);
  }

  /** Writes the record; `sync` waits for the disk. A failure is reported, never thrown. */
  #record(sync: boolean, failure?: string): void {
    const now = this.#now();
    const record: OutboxRecord = {
      lastSeq: this.#store.lastSeq(),
      depth: this.#store.size().entries,
      writtenAt: now,
      ...(failure === undefined ? {} : { failure }),
    };
    this.#recordedAt = now;
    try {
      writeOutboxRecord(this.#databasePath, record, sync);
    } catch (error) {
      this.#onRecordError(error instanceof Error ? error : new Error(String(error)));
    }
  }
}
