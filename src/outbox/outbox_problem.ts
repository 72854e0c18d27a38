/**
 * What the bridge found wrong with its outbox at start, judged from what it
 * found against the outbox's record, and how it is told: one ERROR log line,
 * `/readyz`, the status page and `<root>/bridge/outbox` carry it until the
 * bridge API's `outbox/acknowledge` or a start that finds nothing wrong.
 * Pure.
 *
 * @module
 */
import type { OutboxRecord } from "./outbox_record.ts";

/**
 * - `missing`: the database file is gone;
 * - `empty`: it exists, but holds nothing that was ever stored (0 bytes, or
 *   its `-wal` with every commit lost);
 * - `rolled_back`: it holds an older state than the record (an older backup,
 *   a lost `-wal`, a power cut before the writes reached the disk);
 * - `corrupt`: SQLite reads it as damaged; it was moved aside.
 */
export type OutboxProblemKind = "missing" | "empty" | "rolled_back" | "corrupt";

/** A problem with the outbox, as published (snake_case, JSON). */
export interface OutboxProblem {
  readonly kind: OutboxProblemKind;
  /** The outbox database. */
  readonly file: string;
  /** Readings the record said were waiting for the central broker; null without a record. */
  readonly expected_readings: number | null;
  /** Readings the outbox held when it was opened (those are delivered). */
  readonly found_readings: number;
  /**
   * How many sequence numbers the record had seen given that the database
   * lacks: the commits lost. Null when unknown (no record, or a damaged file).
   */
  readonly missing_sequence_numbers: number | null;
  /** When the record was written, ISO 8601; null without a record. */
  readonly recorded_at: string | null;
  /** `corrupt`: where the damaged file went, with its `-wal` and `-shm` beside it. */
  readonly moved_to: string | null;
  /** `corrupt`: what SQLite reported. */
  readonly error: string | null;
  /** When the bridge found the problem, ISO 8601. */
  readonly since: string;
  /** What happened and what to do. */
  readonly message: string;
}

/** What was found when the outbox was opened. */
export interface OutboxFindings {
  /** The outbox database. */
  readonly file: string;
  /** The record written beside it by the previous run, if there was a readable one. */
  readonly record: OutboxRecord | undefined;
  /** What was at `file` before it was opened (and, if damaged, moved aside). */
  readonly before: "missing" | "empty" | "present";
  /** The database as opened: its highest sequence number and how many readings it holds. */
  readonly lastSeq: number;
  readonly entries: number;
  /** Set when the file was damaged and moved aside. */
  readonly corrupt?: { readonly error: string; readonly movedTo: string };
  /** Now, epoch ms. */
  readonly now: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Whether the database lost commits its record saw. */
export function lostCommits(findings: OutboxFindings): boolean {
  return findings.record !== undefined && findings.lastSeq < findings.record.lastSeq;
}

/**
 * The problem the findings show, if any. A database whose highest sequence
 * number is below the recorded one has lost commits; a record that lags
 * (written at most once a second) never makes a whole database look so. No
 * record (a first start, or an upgrade from a version without one) is no
 * problem, and neither are lost commits when the record says no reading was
 * waiting (an outbox deleted on purpose after a clean stop).
 */
export function judgeOutbox(findings: OutboxFindings): OutboxProblem | undefined {
  const { record, corrupt } = findings;
  let kind: OutboxProblemKind;
  if (corrupt !== undefined) {
    kind = "corrupt";
  } else if (record !== undefined && record.depth > 0 && lostCommits(findings)) {
    kind = findings.before === "missing"
      ? "missing"
      : findings.lastSeq === 0
      ? "empty"
      : "rolled_back";
  } else {
    return undefined;
  }
  const problem = {
    kind,
    file: findings.file,
    expected_readings: record?.depth ?? null,
    found_readings: findings.entries,
    missing_sequence_numbers: corrupt === undefined && record !== undefined
      ? record.lastSeq - findings.lastSeq
      : null,
    recorded_at: record === undefined ? null : iso(record.writtenAt),
    moved_to: corrupt?.movedTo ?? null,
    error: corrupt?.error ?? null,
    since: iso(findings.now),
  };
  return { ...problem, message: describe(problem, record) };
}

const RESTORE = "To restore them, wait until bridge/outbox shows depth 0 (what was taken since " +
  "this start is in the current file), stop the bridge, put outbox.sqlite back from a backup " +
  "together with its -wal and -shm files (all from the same backup) and start the bridge: it " +
  "then reports what the backup lacks. Restored readings reach central after the newer ones " +
  "delivered meanwhile (Home Assistant reads an older energy total as a meter reset), so for " +
  "more than a few minutes of readings rather keep the backup for your records. To go on " +
  "without, acknowledge this with the bridge API request outbox/acknowledge.";

function describe(
  problem: Omit<OutboxProblem, "message">,
  record: OutboxRecord | undefined,
): string {
  const recordText = record === undefined
    ? ""
    : `its record (written ${problem.recorded_at}) expected ${problem.expected_readings} ` +
      "readings waiting for the central broker";
  switch (problem.kind) {
    case "missing":
    case "empty":
      return `The outbox ${problem.file} is ${
        problem.kind === "missing" ? "missing" : "empty"
      }, but ${recordText} (sequence numbers up to ${record!.lastSeq}; ` +
        `${problem.missing_sequence_numbers} missing): they are lost unless restored. ${RESTORE} ` +
        "The bridge goes on with a new, empty outbox.";
    case "rolled_back":
      return `The outbox ${problem.file} holds an older state than its record: its sequence ` +
        `numbers end at ${record!.lastSeq - problem.missing_sequence_numbers!}, the record's at ` +
        `${record!.lastSeq} (${problem.missing_sequence_numbers} missing); ${recordText}, it ` +
        `holds ${problem.found_readings}. The commits in between are lost unless restored (an ` +
        "older backup put in place, its -wal file lost, or a power cut before they reached the " +
        `disk). ${RESTORE} ` +
        "The bridge delivers what the outbox holds and goes on.";
    case "corrupt":
      return `The outbox ${problem.file} is damaged (${problem.error}). It was moved aside, with ` +
        `its -wal and -shm files, to ${problem.moved_to}, and the bridge goes on with a new, ` +
        `empty outbox${record === undefined ? "" : `; ${recordText}`}. To salvage its readings: ` +
        `sqlite3 ${problem.moved_to} .recover > recovered.sql (.dump where sqlite3 lacks ` +
        ".recover; table outbox: topic, payload and retain of each publication), then publish " +
        "them to the central broker. Delete the file once done; acknowledge this with the bridge " +
        "API request outbox/acknowledge.";
  }
}

/** One sentence for lists of reasons (`/readyz`, the status page). */
export function outboxProblemSummary(problem: OutboxProblem): string {
  const expected = problem.expected_readings === null
    ? ""
    : `, ${problem.expected_readings} readings expected`;
  const what = {
    missing: "missing",
    empty: "found empty",
    rolled_back: "rolled back to an older state",
    corrupt: `damaged and moved aside to ${problem.moved_to}`,
  }[problem.kind];
  return `outbox ${problem.file} ${what} at start${expected} (since ${problem.since}); ` +
    "acknowledge with the bridge API request outbox/acknowledge";
}
