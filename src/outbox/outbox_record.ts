/**
 * The outbox record: a small file beside the outbox database
 * (`state_dir/outbox.sqlite.json`) saying how far the outbox had got — its
 * highest sequence number and how many readings were waiting — so that the
 * next start can tell a database that lost commits (missing, emptied, rolled
 * back to an older backup, its `-wal` lost) from one that is merely empty.
 *
 * The check at the next start is "the database's highest sequence number is
 * lower than the recorded one ⇒ commits were lost". It stays true with a
 * record that lags the database (written at most once a second and at
 * close), so the record is written without waiting for the disk except at
 * close: a lost or stale record only weakens the check, it never makes it
 * report a loss that did not happen.
 *
 * A torn record must be detected, not misread: the file is replaced by
 * rename, and carries a digest of its content, so a half-written or mixed-up
 * file is reported as unreadable instead of yielding wrong numbers.
 *
 * @module
 */
import { z } from "zod";
import { digest } from "../runtime/hash.ts";

/** What the record says about the outbox. */
export interface OutboxRecord {
  /** The outbox's highest sequence number when the record was written. */
  readonly lastSeq: number;
  /** Readings waiting for the central broker then. */
  readonly depth: number;
  /** When the record was written, epoch ms. */
  readonly writtenAt: number;
  /**
   * Set when the outbox reported damage while running (a write or read
   * failed as corrupt): the next start moves the file aside instead of
   * trusting a check that let the damage through.
   */
  readonly failure?: string;
}

/** Version of the file format, for a later change to recognise. */
const FORMAT = 1;

const RecordFile = z.strictObject({
  format: z.literal(FORMAT),
  database: z.string(),
  last_seq: z.number().int().nonnegative(),
  depth: z.number().int().nonnegative(),
  written_at: z.iso.datetime(),
  failure: z.string().nullable(),
  digest: z.number().int().nonnegative(),
});

/** The record's path for the outbox database at `databasePath`. */
export function recordPathOf(databasePath: string): string {
  return `${databasePath}.json`;
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** The content minus its digest, in a fixed key order, as the digest covers it. */
function body(databasePath: string, record: OutboxRecord): string {
  return JSON.stringify({
    format: FORMAT,
    database: baseName(databasePath),
    last_seq: record.lastSeq,
    depth: record.depth,
    written_at: new Date(record.writtenAt).toISOString(),
    failure: record.failure ?? null,
  });
}

/** The file content of a record for the database at `databasePath`. */
export function encodeOutboxRecord(databasePath: string, record: OutboxRecord): string {
  const text = body(databasePath, record);
  return `${text.slice(0, -1)},"digest":${digest(text)}}\n`;
}

/** A record read back, or why it could not be. */
export type DecodedRecord =
  | { readonly ok: true; readonly record: OutboxRecord }
  | { readonly ok: false; readonly reason: string };

/** Reads a record's file content; anything torn, altered or foreign is `ok: false`. */
export function decodeOutboxRecord(databasePath: string, text: string): DecodedRecord {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: `not JSON (${text.length} bytes; a torn write?)` };
  }
  const parsed = RecordFile.safeParse(json);
  if (!parsed.success) {
    return { ok: false, reason: `not an outbox record: ${parsed.error.issues[0]?.message}` };
  }
  const file = parsed.data;
  const record: OutboxRecord = {
    lastSeq: file.last_seq,
    depth: file.depth,
    writtenAt: Date.parse(file.written_at),
    ...(file.failure === null ? {} : { failure: file.failure }),
  };
  if (file.database !== baseName(databasePath)) {
    return { ok: false, reason: `it describes ${file.database}, not ${baseName(databasePath)}` };
  }
  if (digest(body(databasePath, record)) !== file.digest) {
    return { ok: false, reason: "its digest does not match its content (a torn write?)" };
  }
  return { ok: true, record };
}

/** What was found where the record belongs. */
export type FoundRecord =
  | { readonly kind: "absent" }
  | { readonly kind: "unreadable"; readonly reason: string }
  | { readonly kind: "found"; readonly record: OutboxRecord };

/** Reads the record of the database at `databasePath`. */
export function readOutboxRecord(databasePath: string): FoundRecord {
  let text: string;
  try {
    text = Deno.readTextFileSync(recordPathOf(databasePath));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { kind: "absent" };
    return { kind: "unreadable", reason: error instanceof Error ? error.message : String(error) };
  }
  const decoded = decodeOutboxRecord(databasePath, text);
  return decoded.ok
    ? { kind: "found", record: decoded.record }
    : { kind: "unreadable", reason: decoded.reason };
}

/**
 * Replaces the record of the database at `databasePath` (a temporary file,
 * then a rename, so a reader sees the old or the new record). With `sync`
 * the content reaches the disk before the rename (at close and after a
 * problem, when the record is the reference for the next start).
 *
 * @throws {Deno.errors} when the file cannot be written
 */
export function writeOutboxRecord(
  databasePath: string,
  record: OutboxRecord,
  sync: boolean,
): void {
  const path = recordPathOf(databasePath);
  const temporary = `${path}.tmp`;
  {
    using file = Deno.openSync(temporary, { write: true, create: true, truncate: true });
    const bytes = new TextEncoder().encode(encodeOutboxRecord(databasePath, record));
    let written = 0;
    while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
    if (sync) file.syncDataSync();
  }
  Deno.renameSync(temporary, path);
}
