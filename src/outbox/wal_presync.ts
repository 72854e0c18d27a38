/**
 * Flushes the outbox's write-ahead log to disk on another thread, ahead of
 * SQLite's own flush.
 *
 * With `synchronous = NORMAL` a commit only writes the WAL into the page
 * cache; SQLite flushes it (`fsync`) at each checkpoint, every 1,000 pages.
 * That flush writes back everything since the last one — about 4 MB,
 * 3.5–4 ms on the bridge's thread with readings waiting behind it, twice a
 * second at 500 readings/s — and until it runs a power cut can take the
 * commits before it: minutes of them when readings are few. Flushing the same
 * file from Deno's I/O threads every few commits, and at the latest a second
 * after a commit, leaves SQLite's flush little to write and bounds what a
 * power cut takes to about a second. What SQLite flushes, and when, is
 * unchanged.
 *
 * @module
 */

/** Commits that start a flush at once: at 500 readings/s one about every 60 ms. */
export const PRESYNC_COMMITS = 32;

/** A commit is flushed at the latest this long after it (plus the flush itself). */
export const PRESYNC_MS = 1000;

/** Flushes a file's data to disk; resolves when it is there. */
export type SyncData = () => Promise<void>;

/** Calls `run` after `ms`; returns what cancels it. */
export type Schedule = (run: () => void, ms: number) => () => void;

const defaultSchedule: Schedule = (run, ms) => {
  const timer = setTimeout(run, ms);
  return () => clearTimeout(timer);
};

/**
 * Flushes the WAL after {@link PRESYNC_COMMITS} commits, or {@link PRESYNC_MS}
 * after the first commit since the last flush; never two flushes at once.
 */
export class WalPresync {
  readonly #sync: SyncData;
  readonly #close: () => void;
  readonly #schedule: Schedule;
  #commits = 0;
  #syncing = false;
  #cancelTimer: (() => void) | undefined;
  #closed = false;

  /**
   * @param sync flushes the WAL (`FsFile.syncData` on it)
   * @param close releases the file
   * @param schedule the timer behind {@link PRESYNC_MS}
   */
  constructor(sync: SyncData, close: () => void = () => {}, schedule = defaultSchedule) {
    this.#sync = sync;
    this.#close = close;
    this.#schedule = schedule;
  }

  /**
   * Opens the WAL beside the database at `path` for flushing; `undefined` if
   * it cannot be opened, and the outbox then works as SQLite alone makes it.
   */
  static open(path: string): WalPresync | undefined {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(`${path}-wal`, { read: true });
    } catch {
      return undefined;
    }
    return new WalPresync(() => file.syncData(), () => file.close());
  }

  /** Counts a commit; flushes now when enough have passed, else arms the timer. */
  committed(): void {
    if (this.#closed) return;
    this.#commits++;
    // A running flush looks again when it ends.
    if (this.#syncing) return;
    if (this.#commits >= PRESYNC_COMMITS) this.#flush();
    else this.#arm();
  }

  /** Releases the file; a flush still running completes on its own. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.#close();
  }

  #arm(): void {
    this.#cancelTimer ??= this.#schedule(() => {
      this.#cancelTimer = undefined;
      if (!this.#closed && !this.#syncing && this.#commits > 0) this.#flush();
    }, PRESYNC_MS);
  }

  #flush(): void {
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.#commits = 0;
    this.#syncing = true;
    // A failed flush is left to SQLite: Linux reports a write-back error to every
    // descriptor of the file, so SQLite's own flush of the WAL fails with it and the
    // outbox reports that as a failed write.
    this.#sync().catch(() => {}).finally(() => {
      this.#syncing = false;
      if (this.#closed || this.#commits === 0) return;
      if (this.#commits >= PRESYNC_COMMITS) this.#flush();
      else this.#arm();
    });
  }
}
