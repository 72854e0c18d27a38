/**
 * The outbox store the configuration asks for, opened and checked: the
 * durable one against its record (`outbox_record.ts`), a damaged file moved
 * aside so the bridge goes on with a new outbox instead of failing at every
 * start.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import { MemoryOutboxStore } from "./memory_outbox_store.ts";
import { judgeOutbox, lostCommits, type OutboxProblem } from "./outbox_problem.ts";
import { type FoundRecord, readOutboxRecord, recordPathOf } from "./outbox_record.ts";
import type { OutboxStore } from "./outbox_store.ts";
import { RecordedOutboxStore, type RecordOptions } from "./recorded_outbox_store.ts";
import {
  OutboxCorruptError,
  type SqliteOutboxOptions,
  SqliteOutboxStore,
} from "./sqlite_outbox_store.ts";

/** How the durable outbox is opened: its record, and the flushing of its write-ahead log. */
export type OpenOutboxOptions = RecordOptions & Pick<SqliteOutboxOptions, "onWalFlushError">;

/** The outbox database's name in `state_dir`. */
export const OUTBOX_FILE = "outbox.sqlite";

/** SQLite's companions of a database in WAL mode, moved together with it. */
const COMPANIONS = ["-wal", "-shm"] as const;

/** An opened outbox store and what opening it found. */
export interface OpenedOutbox {
  readonly store: OutboxStore;
  /** What is wrong, to report loudly until acknowledged. */
  readonly problem?: OutboxProblem;
  /** Things worth a warning that are not a problem of the outbox itself. */
  readonly notices: readonly string[];
}

/**
 * `state_dir/outbox.sqlite` checked against its record, or memory only with
 * `outbox.enabled: false`.
 *
 * @throws {OutboxStoreError} when the outbox cannot be opened for a reason
 * that is not the file's (another bridge on the same state_dir, permissions)
 */
export function openOutboxStore(config: Config, options: OpenOutboxOptions = {}): OpenedOutbox {
  if (!config.outbox.enabled) return { store: new MemoryOutboxStore(), notices: [] };
  Deno.mkdirSync(config.state_dir, { recursive: true });
  return openDurableOutbox(`${config.state_dir}/${OUTBOX_FILE}`, options);
}

/** What is at `path`: nothing, an empty file, or something to open. */
function look(path: string): "missing" | "empty" | "present" {
  try {
    return Deno.statSync(path).size === 0 ? "empty" : "present";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "missing";
    throw error;
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Moves a damaged database and its companions out of the way, to
 * `<path>.corrupt-<UTC time>` (`-wal`, `-shm` appended as SQLite expects, so
 * `sqlite3` finds them); returns the new name.
 */
export function moveAside(path: string, now: number): string {
  const stamp = new Date(now).toISOString().replace(/[-:]|\.\d+/g, "");
  let target = `${path}.corrupt-${stamp}`;
  for (let n = 2; [target, ...COMPANIONS.map((s) => target + s)].some(exists); n++) {
    target = `${path}.corrupt-${stamp}-${n}`;
  }
  Deno.renameSync(path, target);
  for (const suffix of COMPANIONS) {
    if (exists(path + suffix)) Deno.renameSync(path + suffix, target + suffix);
  }
  return target;
}

/**
 * Opens the durable outbox at `path`, checks it against its record and
 * writes a new record. A damaged file — reported by SQLite at open or by its
 * quick check, or marked in the record by a run that hit the damage — is
 * moved aside and a new outbox opened in its place. A new outbox continues
 * the recorded sequence, so its numbers are never given twice.
 */
export function openDurableOutbox(path: string, options: OpenOutboxOptions = {}): OpenedOutbox {
  const now = options.now ?? Date.now;
  const found: FoundRecord = readOutboxRecord(path);
  const record = found.kind === "found" ? found.record : undefined;
  const notices = found.kind === "unreadable"
    ? [
      `The outbox record ${
        recordPathOf(path)
      } is unreadable (${found.reason}); the outbox cannot be checked against it this time. ` +
      "A new record is written.",
    ]
    : [];
  const before = look(path);
  let corrupt: { error: string; movedTo: string } | undefined;
  if (record?.failure !== undefined && before !== "missing") {
    // The previous run hit damage that the check at its start let through: do not trust it again.
    corrupt = { error: record.failure, movedTo: moveAside(path, now()) };
  }
  const flushing = { onWalFlushError: options.onWalFlushError };
  let store: SqliteOutboxStore;
  try {
    store = new SqliteOutboxStore(path, flushing);
  } catch (error) {
    if (!(error instanceof OutboxCorruptError)) throw error;
    corrupt = { error: error.reason, movedTo: moveAside(path, now()) };
    store = new SqliteOutboxStore(path, flushing);
  }
  const findings = {
    file: path,
    record,
    before,
    lastSeq: store.lastSeq(),
    entries: store.size().entries,
    corrupt,
    now: now(),
  };
  const problem = judgeOutbox(findings);
  if (problem === undefined && lostCommits(findings)) {
    notices.push(
      `The outbox ${path} is ${before === "missing" ? "new" : "older than its record"}, but ` +
        "its record shows no reading was waiting for the central broker: none is lost. The " +
        "meters' filter histories stored with it start afresh.",
    );
  }
  if (record !== undefined) store.continueAfter(record.lastSeq);
  return { store: new RecordedOutboxStore(store, path, options), problem, notices };
}
