/**
 * The durable outbox: SQLite (Deno's built-in `node:sqlite`) in WAL mode, one
 * file in `state_dir`.
 *
 * Why SQLite rather than an append-only segment log: entries leave the outbox
 * out of order (per-meter windows, drops of the oldest when full, expiry), and
 * a write appends new entries, deletes acknowledged ones and updates meter
 * state together. SQLite makes each such write one atomic transaction and
 * recovers by itself after a crash; a segment log would need its own
 * compaction, index and recovery code for the same guarantees.
 *
 * Durability: WAL with `synchronous = NORMAL`. A committed write survives the
 * bridge being killed at any point (the WAL is in the OS's page cache); after
 * a power loss or kernel crash the writes since the last flush of the WAL
 * may be rolled back: about the last second of them ({@link WalPresync}).
 * `FULL` would fsync every write and cap throughput at the disk's sync rate —
 * an SD card on a gateway manages a few hundred per second. Writes are batched
 * by the caller, so one transaction carries many readings.
 *
 * The database is opened in exclusive locking mode: a second bridge started
 * on the same `state_dir` fails at once instead of sharing the outbox.
 *
 * Meter states are ordered by `written` only when read at start or pruned
 * (rare, and only once there are more than `limits.max_meters`), so that
 * column has no index: an index would be one more B-tree write with every
 * reading (`bench/outbox_store_bench.ts`: a batch of 20 readings took 590
 * instead of 522 µs with 10,000 meters, a single reading 48 instead of 41 µs).
 * Earlier versions created one; it is dropped at open.
 *
 * Damage: opening runs `PRAGMA quick_check` (about 0.25 s for 1,000,000
 * entries in the page cache, 3 s read cold from disk; milliseconds for the
 * usual near-empty outbox), so a damaged file is found at start rather than
 * by a write later. Damage found at open or while running is reported as an
 * {@link OutboxCorruptError}, which callers tell apart from the causes that
 * are not the file's fault (another bridge, a full disk, permissions).
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import {
  entryBytes,
  type OutboxEntry,
  type OutboxSize,
  type OutboxStore,
  type OutboxWrite,
} from "./outbox_store.ts";
import { WalPresync } from "./wal_presync.ts";

/** The outbox file cannot be opened or used. */
export class OutboxStoreError extends Error {
  override name = "OutboxStoreError";
}

/** Another process (a bridge on the same `state_dir`) holds the outbox. */
export class OutboxInUseError extends OutboxStoreError {
  override name = "OutboxInUseError";

  /** @param path the outbox file */
  constructor(readonly path: string, options?: ErrorOptions) {
    super(
      `${path} is in use by another bridge process; each bridge needs its own state_dir`,
      options,
    );
  }
}

/** The outbox file is damaged: SQLite reads it as malformed, or as no database at all. */
export class OutboxCorruptError extends OutboxStoreError {
  override name = "OutboxCorruptError";

  /**
   * @param path the damaged file
   * @param reason what SQLite reported, e.g. `database disk image is malformed`
   */
  constructor(readonly path: string, readonly reason: string, options?: ErrorOptions) {
    super(
      `the outbox ${path} is damaged (${reason}); at the next start of the proxy it is moved ` +
        "aside, kept for salvage, and a new outbox is used",
      options,
    );
  }
}

/**
 * SQLite's messages for a damaged file (SQLITE_CORRUPT, SQLITE_NOTADB);
 * `node:sqlite` gives no error codes, only these texts.
 */
const CORRUPTION =
  /database disk image is malformed|file is not a database|malformed database schema/i;

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    retain INTEGER NOT NULL,
    enqueued_at INTEGER NOT NULL,
    bytes INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS meter_state (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    written INTEGER NOT NULL
  ) WITHOUT ROWID;
  DROP INDEX IF EXISTS meter_state_written;
`;

/** How many rows one trim step looks at. */
const TRIM_CHUNK = 1000;

/** How a {@link SqliteOutboxStore} flushes its write-ahead log ahead of SQLite. */
export interface SqliteOutboxOptions {
  /** Told when the write-ahead log cannot be opened or flushed; the store goes on. */
  readonly onWalFlushError?: (error: Error) => void;
  /** Makes the flusher for the write-ahead log at `walPath` ({@link WalPresync.open}). */
  readonly presync?: (walPath: string, onError: (error: Error) => void) => WalPresync | undefined;
}

/** An {@link OutboxStore} in an SQLite file. */
export class SqliteOutboxStore implements OutboxStore {
  readonly durable = true;
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #delete: StatementSync;
  readonly #updateState: StatementSync;
  readonly #insertState: StatementSync;
  readonly #deleteState: StatementSync;
  readonly #readAfter: StatementSync;
  readonly #oldest: StatementSync;
  #entries = 0;
  #bytes = 0;
  /** Rows of `meter_state`, so that pruning has nothing to look at while under its bound. */
  #meterStateCount = 0;
  /** Order in which meter states were written; continues across restarts. */
  #written = 0;
  #lastSeq = 0;
  readonly #presync: WalPresync | undefined;

  /**
   * Opens (creating if needed) the outbox at `path` and checks it.
   *
   * @throws {OutboxCorruptError} when the file is damaged (it is left as it is)
   * @throws {OutboxStoreError} when it cannot be opened for another reason
   */
  constructor(readonly path: string, options: SqliteOutboxOptions = {}) {
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(path);
      db.exec(
        "PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
      );
      // Take the exclusive lock now, so a second bridge on this state_dir fails here.
      db.exec(`BEGIN IMMEDIATE; ${SCHEMA} COMMIT;`);
      const check = db.prepare("PRAGMA quick_check(5)").all() as { quick_check: string }[];
      if (check.length !== 1 || check[0]?.quick_check !== "ok") {
        throw new OutboxCorruptError(path, check.map((row) => row.quick_check).join("; "));
      }
      this.#db = db;
      this.#readTotals();
    } catch (error) {
      // Closed here, so the file can be moved aside and this process can open another.
      if (db?.isOpen) db.close();
      if (error instanceof OutboxStoreError) throw error;
      const reason = reasonOf(error);
      if (CORRUPTION.test(reason)) throw new OutboxCorruptError(path, reason, { cause: error });
      if (/locked|busy/i.test(reason)) throw new OutboxInUseError(path, { cause: error });
      throw new OutboxStoreError(`cannot open the outbox ${path}: ${reason}`, { cause: error });
    }
    this.#insert = this.#db.prepare(
      "INSERT INTO outbox (topic, payload, retain, enqueued_at, bytes) VALUES (?, ?, ?, ?, ?)",
    );
    // One statement for a whole batch of acknowledged entries.
    this.#delete = this.#db.prepare(
      "DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?)) RETURNING bytes",
    );
    // An update, and an insert only when it found no row: the count of states stays exact.
    this.#updateState = this.#db.prepare(
      "UPDATE meter_state SET state = ?, written = ? WHERE id = ?",
    );
    this.#insertState = this.#db.prepare(
      "INSERT INTO meter_state (id, state, written) VALUES (?, ?, ?)",
    );
    this.#deleteState = this.#db.prepare("DELETE FROM meter_state WHERE id = ?");
    this.#readAfter = this.#db.prepare(
      "SELECT seq, topic, payload, retain, enqueued_at FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
    );
    this.#oldest = this.#db.prepare(
      "SELECT seq, enqueued_at, bytes FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
    );
    // SQLite names its log after the file it opened, a symbolic link resolved.
    const { file } = this.#db.prepare("PRAGMA database_list").get() as { file: string };
    this.#presync = (options.presync ?? WalPresync.open)(
      `${file}-wal`,
      options.onWalFlushError ?? (() => {}),
    );
  }

  /** Reads the counters kept in memory: size, meter state order, last sequence number. */
  #readTotals(): void {
    const size = this.#db.prepare(
      "SELECT COUNT(*) AS entries, COALESCE(SUM(bytes), 0) AS bytes FROM outbox",
    ).get() as { entries: number; bytes: number };
    this.#entries = size.entries;
    this.#bytes = size.bytes;
    const states = this.#db.prepare(
      "SELECT COUNT(*) AS count, COALESCE(MAX(written), 0) AS written FROM meter_state",
    ).get() as { count: number; written: number };
    this.#meterStateCount = states.count;
    this.#written = states.written;
    this.#lastSeq = this.#storedLastSeq();
  }

  /** `sqlite_sequence` keeps the highest AUTOINCREMENT value ever given, even once deleted. */
  #storedLastSeq(): number {
    const row = this.#db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").get() as
      | { seq: number }
      | undefined;
    return row?.seq ?? 0;
  }

  write(change: OutboxWrite): OutboxEntry[] {
    return this.#transaction(() => {
      this.#deleteAll(change.remove);
      const appended = change.append.map((publication) => {
        const bytes = entryBytes(publication);
        const { lastInsertRowid } = this.#insert.run(
          publication.topic,
          publication.payload,
          publication.retain ? 1 : 0,
          change.now,
          bytes,
        );
        this.#entries++;
        this.#bytes += bytes;
        this.#lastSeq = Number(lastInsertRowid);
        return { ...publication, seq: this.#lastSeq, enqueuedAt: change.now };
      });
      for (const [id, state] of change.meterStates) {
        if (state === undefined) {
          this.#meterStateCount -= Number(this.#deleteState.run(id).changes);
        } else if (Number(this.#updateState.run(state, ++this.#written, id).changes) === 0) {
          this.#insertState.run(id, state, this.#written);
          this.#meterStateCount++;
        }
      }
      return appended;
    });
  }

  read(afterSeq: number, limit: number): OutboxEntry[] {
    return (this.#reading(() => this.#readAfter.all(afterSeq, limit)) as {
      seq: number;
      topic: string;
      payload: string;
      retain: number;
      enqueued_at: number;
    }[]).map((row) => ({
      seq: row.seq,
      topic: row.topic,
      payload: row.payload,
      retain: row.retain === 1,
      enqueuedAt: row.enqueued_at,
    }));
  }

  trim(
    bounds: { maxEntries: number; maxBytes: number; notBefore: number },
    keep: ReadonlySet<number>,
  ): number[] {
    const deleted: number[] = [];
    let after = 0;
    let entries = this.#entries;
    let bytes = this.#bytes;
    this.#transaction(() => {
      while (true) {
        const rows = this.#oldest.all(after, TRIM_CHUNK) as {
          seq: number;
          enqueued_at: number;
          bytes: number;
        }[];
        const chunk: number[] = [];
        let done = rows.length < TRIM_CHUNK;
        for (const row of rows) {
          after = row.seq;
          const over = entries > bounds.maxEntries || bytes > bounds.maxBytes;
          if (!over && row.enqueued_at >= bounds.notBefore) {
            done = true;
            break;
          }
          if (keep.has(row.seq)) continue;
          chunk.push(row.seq);
          entries--;
          bytes -= row.bytes;
        }
        this.#deleteAll(chunk);
        deleted.push(...chunk);
        if (done) return;
      }
    });
    return deleted;
  }

  size(): OutboxSize {
    return { entries: this.#entries, bytes: this.#bytes };
  }

  lastSeq(): number {
    return this.#lastSeq;
  }

  /**
   * Makes the sequence continue after `seq`: a new outbox that replaces a lost
   * one goes on where the lost one ended, so sequence numbers are never given
   * twice and the lost one, should it come back, is recognised as older.
   */
  continueAfter(seq: number): void {
    if (seq <= this.#lastSeq) return;
    this.#transaction(() => {
      // The row exists once a first entry was inserted; before, it is created here.
      const updated = this.#db.prepare(
        "UPDATE sqlite_sequence SET seq = ? WHERE name = 'outbox'",
      ).run(seq);
      if (updated.changes === 0) {
        this.#db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)").run(seq);
      }
    });
    this.#lastSeq = seq;
  }

  meterStates(): Map<string, string> {
    const rows = this.#reading(() =>
      this.#db.prepare("SELECT id, state FROM meter_state ORDER BY written").all()
    ) as { id: string; state: string }[];
    return new Map(rows.map((row) => [row.id, row.state]));
  }

  pruneMeterStates(keep: number): number {
    if (this.#meterStateCount <= keep) return 0;
    const pruned = this.#transaction(() =>
      Number(
        this.#db.prepare(
          "DELETE FROM meter_state WHERE id IN " +
            "(SELECT id FROM meter_state ORDER BY written DESC LIMIT -1 OFFSET ?)",
        ).run(keep).changes,
      )
    );
    this.#meterStateCount -= pruned;
    return pruned;
  }

  close(): void {
    // Before the database: closing it checkpoints and deletes the WAL.
    this.#presync?.close();
    if (this.#db.isOpen) this.#db.close();
  }

  #deleteAll(seqs: readonly number[]): void {
    if (seqs.length === 0) return;
    const rows = this.#delete.all(JSON.stringify(seqs)) as { bytes: number }[];
    for (const row of rows) {
      this.#entries--;
      this.#bytes -= row.bytes;
    }
  }

  /** Runs a query; damage it runs into is an {@link OutboxCorruptError}. */
  #reading<T>(query: () => T): T {
    try {
      return query();
    } catch (error) {
      throw this.#failure(error, "reading");
    }
  }

  #transaction<T>(body: () => T): T {
    const entries = this.#entries;
    const bytes = this.#bytes;
    const lastSeq = this.#lastSeq;
    const meterStateCount = this.#meterStateCount;
    const written = this.#written;
    try {
      this.#db.exec("BEGIN");
      const result = body();
      this.#db.exec("COMMIT");
      this.#presync?.committed();
      return result;
    } catch (error) {
      // On some errors (a full disk) SQLite has already rolled back by itself.
      if (this.#db.isOpen && this.#db.isTransaction) this.#db.exec("ROLLBACK");
      this.#entries = entries;
      this.#bytes = bytes;
      this.#lastSeq = lastSeq;
      this.#meterStateCount = meterStateCount;
      this.#written = written;
      throw this.#failure(error, "writing");
    }
  }

  /** The error to throw for a failed query: damage, or another cause with what to do. */
  #failure(error: unknown, doing: "reading" | "writing"): OutboxStoreError {
    const reason = reasonOf(error);
    if (CORRUPTION.test(reason)) {
      // Nothing more is done with a damaged file; closing lets the next start move it aside.
      this.close();
      return new OutboxCorruptError(this.path, reason, { cause: error });
    }
    return new OutboxStoreError(
      `${doing} the outbox ${this.path} failed: ${reason}` +
        (/full/i.test(reason)
          ? "; free space on the disk of state_dir, or lower outbox.max_megabytes"
          : ""),
      { cause: error },
    );
  }
}
