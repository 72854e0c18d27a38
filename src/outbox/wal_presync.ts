/**
 * Flushes the outbox's write-ahead log to disk on another thread, ahead of
 * SQLite's own flush.
 *
 * With `synchronous = NORMAL` a commit only writes the WAL into the page
 * cache; SQLite flushes it (`fsync`) at each checkpoint, every 1,000 pages.
 * That flush writes back everything the kernel has not yet written — up to
 * 4 MB; at 500 readings/s the commits that checkpoint took 3.3–6.1 ms on the
 * bridge's thread, with readings waiting behind them, twice a second. Until
 * then a power cut can take those commits (the kernel writes them back on its
 * own after about 30 s). Flushing the same file from Deno's I/O threads every
 * {@link PRESYNC_COMMITS} commits, and about a second after a commit, leaves
 * SQLite's flush little to write (those commits took 1.0–2.1 ms) and bounds
 * what a power cut takes to about the last second. The price is flushes:
 * about one a second at low rates, 16 a second at 500 readings/s. What SQLite
 * flushes, and when, is unchanged.
 *
 * @module
 */

/** Commits that start a flush at once: at 500 readings/s one about every 60 ms. */
export const PRESYNC_COMMITS = 32;

/**
 * A commit is flushed this long after it, or after the flush running at the
 * time ends; a flush takes milliseconds.
 */
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
 * after the first commit since the last flush; never two flushes at once. A
 * failed flush is reported and the next one tries again.
 */
export class WalPresync {
  readonly #sync: SyncData;
  readonly #close: () => void;
  readonly #schedule: Schedule;
  readonly #onError: (error: Error) => void;
  #commits = 0;
  #syncing = false;
  #cancelTimer: (() => void) | undefined;
  #closed = false;

  /**
   * @param sync flushes the WAL (`FsFile.syncData` on it)
   * @param close releases the file
   * @param onError told of a failed flush: SQLite's own flush at a checkpoint
   *   would meet the same error, but it ignores it (its commits are done by then)
   * @param schedule the timer behind {@link PRESYNC_MS}
   */
  constructor(
    sync: SyncData,
    close: () => void,
    onError: (error: Error) => void,
    schedule = defaultSchedule,
  ) {
    this.#sync = sync;
    this.#close = close;
    this.#onError = onError;
    this.#schedule = schedule;
  }

  /**
   * Opens the write-ahead log `walPath` for flushing. When it cannot be
   * opened, `onError` is told and the outbox works as SQLite alone makes it
   * (`undefined`).
   */
  static open(walPath: string, onError: (error: Error) => void): WalPresync | undefined {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(walPath, { read: true });
    } catch (error) {
      onError(error instanceof Error ? error : new Error(String(error)));
      return undefined;
    }
    return new WalPresync(() => file.syncData(), () => file.close(), onError);
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
    this.#sync().catch((error) => {
      if (!this.#closed) this.#onError(error instanceof Error ? error : new Error(String(error)));
    }).finally(() => {
      this.#syncing = false;
      if (this.#closed || this.#commits === 0) return;
      if (this.#commits >= PRESYNC_COMMITS) this.#flush();
      else this.#arm();
    });
  }
}
