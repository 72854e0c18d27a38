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
 * a power loss or kernel crash the writes since the last sync of the WAL
 * (at a checkpoint) may be rolled back. `FULL` would fsync every write and cap
 * throughput at the disk's sync rate — an SD card on a gateway manages a few
 * hundred per second. Writes are batched by the caller, so one transaction
 * carries many readings.
 *
 * The database is opened in exclusive locking mode: a second bridge started
 * on the same `state_dir` fails at once instead of sharing the outbox.
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

/** The outbox file cannot be opened or used. */
export class OutboxStoreError extends Error {
  override name = "OutboxStoreError";
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
  CREATE INDEX IF NOT EXISTS meter_state_written ON meter_state (written);
`;

/** How many rows one trim step looks at. */
const TRIM_CHUNK = 1000;

/** An {@link OutboxStore} in an SQLite file. */
export class SqliteOutboxStore implements OutboxStore {
  readonly durable = true;
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #delete: StatementSync;
  readonly #upsertState: StatementSync;
  readonly #deleteState: StatementSync;
  readonly #readAfter: StatementSync;
  readonly #oldest: StatementSync;
  #entries: number;
  #bytes: number;
  /** Order in which meter states were written; continues across restarts. */
  #written: number;

  /** Opens (creating if needed) the outbox at `path`. */
  constructor(readonly path: string) {
    try {
      this.#db = new DatabaseSync(path);
      this.#db.exec(
        "PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
      );
      // Take the exclusive lock now, so a second bridge on this state_dir fails here.
      this.#db.exec(`BEGIN IMMEDIATE; ${SCHEMA} COMMIT;`);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new OutboxStoreError(
        /locked|busy/i.test(reason)
          ? `${path} is in use by another bridge process; each bridge needs its own state_dir`
          : `cannot open the outbox ${path}: ${reason}`,
        { cause: error },
      );
    }
    this.#insert = this.#db.prepare(
      "INSERT INTO outbox (topic, payload, retain, enqueued_at, bytes) VALUES (?, ?, ?, ?, ?)",
    );
    // One statement for a whole batch of acknowledged entries.
    this.#delete = this.#db.prepare(
      "DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?)) RETURNING bytes",
    );
    this.#upsertState = this.#db.prepare(
      "INSERT INTO meter_state (id, state, written) VALUES (?, ?, ?) " +
        "ON CONFLICT (id) DO UPDATE SET state = excluded.state, written = excluded.written",
    );
    this.#deleteState = this.#db.prepare("DELETE FROM meter_state WHERE id = ?");
    this.#readAfter = this.#db.prepare(
      "SELECT seq, topic, payload, retain, enqueued_at FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
    );
    this.#oldest = this.#db.prepare(
      "SELECT seq, enqueued_at, bytes FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
    );
    const size = this.#db.prepare(
      "SELECT COUNT(*) AS entries, COALESCE(SUM(bytes), 0) AS bytes FROM outbox",
    ).get() as { entries: number; bytes: number };
    this.#entries = size.entries;
    this.#bytes = size.bytes;
    this.#written =
      (this.#db.prepare("SELECT COALESCE(MAX(written), 0) AS written FROM meter_state")
        .get() as { written: number }).written;
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
        return { ...publication, seq: Number(lastInsertRowid), enqueuedAt: change.now };
      });
      for (const [id, state] of change.meterStates) {
        if (state === undefined) this.#deleteState.run(id);
        else this.#upsertState.run(id, state, ++this.#written);
      }
      return appended;
    });
  }

  read(afterSeq: number, limit: number): OutboxEntry[] {
    return (this.#readAfter.all(afterSeq, limit) as {
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
        after = rows[rows.length - 1].seq;
      }
    });
    return deleted;
  }

  size(): OutboxSize {
    return { entries: this.#entries, bytes: this.#bytes };
  }

  meterStates(): Map<string, string> {
    const rows = this.#db.prepare("SELECT id, state FROM meter_state ORDER BY written").all() as {
      id: string;
      state: string;
    }[];
    return new Map(rows.map((row) => [row.id, row.state]));
  }

  pruneMeterStates(keep: number): number {
    return this.#transaction(() =>
      Number(
        this.#db.prepare(
          "DELETE FROM meter_state WHERE id IN " +
            "(SELECT id FROM meter_state ORDER BY written DESC LIMIT -1 OFFSET ?)",
        ).run(keep).changes,
      )
    );
  }

  close(): void {
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

  #transaction<T>(body: () => T): T {
    const entries = this.#entries;
    const bytes = this.#bytes;
    this.#db.exec("BEGIN");
    try {
      const result = body();
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      // On some errors (a full disk) SQLite has already rolled back by itself.
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      this.#entries = entries;
      this.#bytes = bytes;
      const reason = error instanceof Error ? error.message : String(error);
      throw new OutboxStoreError(
        `writing the outbox ${this.path} failed: ${reason}` +
          (/full/i.test(reason)
            ? "; free space on the disk of state_dir, or lower outbox.max_megabytes"
            : ""),
        { cause: error },
      );
    }
  }
}
