/**
 * Opening the outbox against its record, on real SQLite files: a first start
 * or an upgrade is no problem; a missing, zeroed or rolled-back database is
 * reported with what was expected; a damaged one (truncated at various
 * offsets, garbage, zeros) is moved aside with its -wal and -shm and a new
 * outbox continues the sequence; the next start finds nothing wrong.
 */
import assert from "node:assert/strict";
import { Config } from "../../src/config/schema.ts";
import { MemoryOutboxStore } from "../../src/outbox/memory_outbox_store.ts";
import {
  moveAside,
  openDurableOutbox,
  type OpenedOutbox,
  openOutboxStore,
} from "../../src/outbox/open_outbox_store.ts";
import {
  readOutboxRecord,
  recordPathOf,
  writeOutboxRecord,
} from "../../src/outbox/outbox_record.ts";
import type { OutboxStore } from "../../src/outbox/outbox_store.ts";
import { RecordedOutboxStore } from "../../src/outbox/recorded_outbox_store.ts";
import { OutboxStoreError, SqliteOutboxStore } from "../../src/outbox/sqlite_outbox_store.ts";

const NOW = Date.parse("2026-01-12T16:39:00.000Z");
const at = () => NOW;

async function tempDatabase() {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-open-outbox-" });
  return {
    dir,
    path: `${dir}/outbox.sqlite`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

function append(store: OutboxStore, count: number): void {
  for (let done = 0; done < count; done += 100) {
    store.write({
      append: Array.from({ length: Math.min(100, count - done) }, (_, i) => ({
        topic: `kpm33b/33B12259500${String(i % 10).padStart(2, "0")}/minutes`,
        payload: JSON.stringify({ i: done + i, active_energy: 163.486 }),
        retain: false,
      })),
      remove: [],
      meterStates: new Map([[`m${done}`, "{}"]]),
      now: NOW,
    });
  }
}

/** Fills the outbox as a bridge does (record included) and closes it cleanly. */
function fill(path: string, count: number, removeFirst = 0): void {
  const { store } = openDurableOutbox(path, { now: at });
  append(store, count);
  if (removeFirst > 0) {
    const seqs = store.read(0, removeFirst).map((e) => e.seq);
    store.write({ append: [], remove: seqs, meterStates: new Map(), now: NOW });
  }
  store.close();
}

/**
 * Fills the outbox in another process killed before it closed (no checkpoint):
 * its commits are in the -wal, its record written after each commit.
 */
async function fillAndKill(path: string, count: number): Promise<void> {
  const module = (name: string) => new URL(`../../src/outbox/${name}`, import.meta.url).href;
  const { success, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { openDurableOutbox } from "${module("open_outbox_store.ts")}";
       const { store } = openDurableOutbox(${JSON.stringify(path)}, { intervalMs: 0 });
       for (let done = 0; done < ${count}; done += 100) {
         store.write({
           append: Array.from({ length: Math.min(100, ${count} - done) },
             (_, i) => ({ topic: "kpm33b/m/minutes", payload: String(done + i), retain: false })),
           remove: [], meterStates: new Map(), now: Date.now(),
         });
       }
       Deno.exit(0);`,
    ],
    stderr: "piped",
  }).output();
  assert.ok(success, new TextDecoder().decode(stderr));
  assert.ok(Deno.statSync(`${path}-wal`).size > 0, "the commits are in the -wal");
}

function truncate(path: string, length: number): void {
  try {
    Deno.truncateSync(path, length);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** Opens, asserts, closes; the next open of the same file must find nothing wrong. */
function openChecked(path: string, check: (opened: OpenedOutbox) => void): void {
  const opened = openDurableOutbox(path, { now: at });
  try {
    check(opened);
  } finally {
    opened.store.close();
  }
  const again = openDurableOutbox(path, { now: at });
  again.store.close();
  assert.equal(again.problem, undefined, "the next start finds the outbox in order");
  assert.deepEqual(again.notices, []);
}

Deno.test("openOutboxStore: SQLite in state_dir (created if missing) with its record, or memory when disabled", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-open-outbox-" });
  try {
    const stateDir = `${dir}/not/yet/there`;
    const durable = openOutboxStore(Config.parse({ state_dir: stateDir }));
    assert.ok(durable.store instanceof RecordedOutboxStore);
    assert.equal(durable.store.durable, true);
    durable.store.close();
    assert.deepEqual(
      [...Deno.readDirSync(stateDir)].map((e) => e.name).sort(),
      ["outbox.sqlite", "outbox.sqlite.json"],
    );
    const memory = openOutboxStore(
      Config.parse({ state_dir: `${dir}/unused`, outbox: { enabled: false } }),
    );
    assert.ok(memory.store instanceof MemoryOutboxStore);
    assert.equal(memory.problem, undefined);
    await assert.rejects(Deno.stat(`${dir}/unused`), Deno.errors.NotFound, "nothing is written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a first start, and an upgrade from a version without a record, are no problem; the record is created", async () => {
  await using first = await tempDatabase();
  openChecked(first.path, (opened) => {
    assert.equal(opened.problem, undefined);
    assert.deepEqual(opened.notices, []);
  });

  await using upgrade = await tempDatabase();
  const old = new SqliteOutboxStore(upgrade.path);
  append(old, 250);
  old.close();
  openChecked(upgrade.path, (opened) => {
    assert.equal(opened.problem, undefined);
    assert.equal(opened.store.size().entries, 250);
    const found = readOutboxRecord(upgrade.path);
    assert.deepEqual(found, {
      kind: "found",
      record: { lastSeq: 250, depth: 250, writtenAt: NOW },
    });
  });
});

Deno.test("a restart that finds what the record describes is no problem", async () => {
  await using db = await tempDatabase();
  fill(db.path, 3050, 50);
  openChecked(db.path, (opened) => {
    assert.equal(opened.problem, undefined);
    assert.equal(opened.store.size().entries, 3000);
    assert.equal(opened.store.lastSeq(), 3050);
  });
});

Deno.test("outbox.sqlite with its -wal and -shm truncated to 0 bytes: empty, 3000 readings expected, reported once", async () => {
  await using db = await tempDatabase();
  await fillAndKill(db.path, 3050);
  const record = readOutboxRecord(db.path);
  assert.equal(record.kind, "found");
  for (const suffix of ["", "-wal", "-shm"]) truncate(db.path + suffix, 0);

  openChecked(db.path, ({ problem, store }) => {
    assert.deepEqual({ ...problem, message: undefined }, {
      kind: "empty",
      file: db.path,
      expected_readings: 3050,
      found_readings: 0,
      missing_sequence_numbers: 3050,
      recorded_at: record.kind === "found" ? new Date(record.record.writtenAt).toISOString() : "",
      moved_to: null,
      error: null,
      since: new Date(NOW).toISOString(),
      message: undefined,
    });
    assert.match(
      problem!.message,
      new RegExp(`^The outbox ${db.path} is empty, but its record \\(written .*\\) expected 3050 `),
    );
    assert.match(problem!.message, /-wal and -shm/);
    assert.match(problem!.message, /outbox\/acknowledge/);
    // The new outbox continues the sequence: no number is given twice.
    append(store, 1);
    assert.equal(store.lastSeq(), 3051);
  });
});

Deno.test("outbox.sqlite removed: missing; readings waiting and sequence numbers named", async () => {
  await using db = await tempDatabase();
  fill(db.path, 500, 100);
  await Deno.remove(db.path);
  openChecked(db.path, ({ problem }) => {
    assert.equal(problem?.kind, "missing");
    assert.equal(problem?.expected_readings, 400);
    assert.equal(problem?.missing_sequence_numbers, 500);
    assert.match(problem!.message, /is missing, but its record/);
  });
});

Deno.test("outbox.sqlite deleted after a clean stop with nothing waiting: a notice, no problem", async () => {
  await using db = await tempDatabase();
  fill(db.path, 300, 300);
  await Deno.remove(db.path);
  const opened = openDurableOutbox(db.path, { now: at });
  try {
    assert.equal(opened.problem, undefined);
    assert.deepEqual(opened.notices, [
      `The outbox ${db.path} is new, but its record shows no reading was waiting for the ` +
      "central broker: none is lost. The meters' filter histories stored with it start afresh.",
    ]);
    assert.equal(opened.store.lastSeq(), 300, "the sequence goes on");
  } finally {
    opened.store.close();
  }
});

Deno.test("the -wal lost after a kill: rolled back to the last checkpoint, what it holds is kept", async () => {
  await using db = await tempDatabase();
  fill(db.path, 1000);
  await fillAndKill(db.path, 2050);
  await Deno.remove(`${db.path}-wal`);
  openChecked(db.path, ({ problem, store }) => {
    assert.equal(problem?.kind, "rolled_back");
    assert.equal(problem?.expected_readings, 3050);
    assert.equal(problem?.found_readings, 1000);
    assert.equal(problem?.missing_sequence_numbers, 2050);
    assert.match(problem!.message, /sequence numbers end at 1000, the record's at 3050/);
    assert.equal(store.size().entries, 1000, "the readings it holds are delivered");
  });
});

/** Ways a database file gets damaged, each given the file's size. */
const DAMAGE: [string, (path: string, size: number) => void][] = [
  ["truncated to 50 bytes", (path) => truncate(path, 50)],
  ["truncated to 100 bytes", (path) => truncate(path, 100)],
  ["truncated to one page", (path) => truncate(path, 4096)],
  ["truncated to half", (path, size) => truncate(path, Math.floor(size / 2))],
  ["truncated by its last page", (path, size) => truncate(path, size - 4096)],
  ["garbage", (path, size) => {
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i += 65536) {
      crypto.getRandomValues(bytes.subarray(i, Math.min(size, i + 65536)));
    }
    Deno.writeFileSync(path, bytes);
  }],
  ["zero-filled", (path, size) => Deno.writeFileSync(path, new Uint8Array(size))],
];

for (const [damage, apply] of DAMAGE) {
  Deno.test(`a database ${damage} is moved aside with its -wal and -shm; a new outbox takes its place`, async () => {
    await using db = await tempDatabase();
    fill(db.path, 3050, 50);
    // Leftover companions, as a killed run leaves them, go along with the file.
    Deno.writeTextFileSync(`${db.path}-shm`, "shm");
    apply(db.path, Deno.statSync(db.path).size);
    const damaged = Deno.readFileSync(db.path);

    openChecked(db.path, ({ problem, store }) => {
      const movedTo = `${db.path}.corrupt-20260112T163900Z`;
      assert.equal(problem?.kind, "corrupt", JSON.stringify(problem));
      assert.equal(problem?.moved_to, movedTo);
      assert.match(problem!.error!, /malformed|not a database/);
      assert.equal(problem?.expected_readings, 3000);
      assert.equal(problem?.missing_sequence_numbers, null);
      assert.ok(problem!.message.includes(`sqlite3 ${movedTo} .recover`), problem!.message);
      assert.deepEqual(Deno.readFileSync(movedTo), damaged, "kept as it was");
      assert.equal(Deno.readTextFileSync(`${movedTo}-shm`), "shm");
      assert.equal(store.size().entries, 0);
      append(store, 1);
      assert.equal(store.lastSeq(), 3051);
    });
  });
}

Deno.test("a damaged file without a record (an upgrade) is moved aside too, with nothing expected", async () => {
  await using db = await tempDatabase();
  Deno.writeTextFileSync(db.path, "this is not a database, it is a text file of some length.\n");
  openChecked(db.path, ({ problem }) => {
    assert.equal(problem?.kind, "corrupt");
    assert.equal(problem?.expected_readings, null);
    assert.equal(problem?.error, "file is not a database");
  });
});

Deno.test("damage hit while running, marked in the record: the file is moved aside at the next start, once", async () => {
  await using db = await tempDatabase();
  fill(db.path, 300);
  const record = readOutboxRecord(db.path);
  assert.equal(record.kind, "found");
  if (record.kind !== "found") return;
  writeOutboxRecord(
    db.path,
    { ...record.record, failure: "database disk image is malformed" },
    true,
  );

  openChecked(db.path, ({ problem }) => {
    assert.equal(problem?.kind, "corrupt");
    assert.equal(problem?.error, "database disk image is malformed");
    assert.equal(problem?.expected_readings, 300);
  });
  assert.equal(
    [...Deno.readDirSync(db.dir)].filter((e) => e.name.includes(".corrupt-")).length,
    1,
    "moved aside once, not at every start",
  );
});

Deno.test("a torn record is a notice, not a problem; a new record is written", async () => {
  await using db = await tempDatabase();
  fill(db.path, 200);
  const text = Deno.readTextFileSync(recordPathOf(db.path));
  Deno.writeTextFileSync(recordPathOf(db.path), text.slice(0, 40));
  openChecked(db.path, ({ problem, notices, store }) => {
    assert.equal(problem, undefined);
    assert.equal(store.size().entries, 200);
    assert.equal(notices.length, 1);
    assert.match(
      notices[0]!,
      new RegExp(`^The outbox record ${recordPathOf(db.path)} is unreadable \\(not JSON`),
    );
  });
});

Deno.test("an outbox another bridge holds is an error, not damage: nothing is moved", async () => {
  await using db = await tempDatabase();
  const holder = openDurableOutbox(db.path, { now: at });
  try {
    assert.throws(
      () => openDurableOutbox(db.path, { now: at }),
      (error: Error) =>
        error instanceof OutboxStoreError && /in use by another bridge process/.test(error.message),
    );
    assert.deepEqual(
      [...Deno.readDirSync(db.dir)].map((e) => e.name).filter((n) => n.includes("corrupt")),
      [],
    );
  } finally {
    holder.store.close();
  }
});

Deno.test("moveAside: a second damaged file in the same second gets its own name", async () => {
  await using db = await tempDatabase();
  for (const n of [1, 2]) {
    Deno.writeTextFileSync(db.path, `damaged ${n}`);
    Deno.writeTextFileSync(`${db.path}-wal`, `wal ${n}`);
    moveAside(db.path, NOW);
  }
  assert.deepEqual([...Deno.readDirSync(db.dir)].map((e) => e.name).sort(), [
    "outbox.sqlite.corrupt-20260112T163900Z",
    "outbox.sqlite.corrupt-20260112T163900Z-2",
    "outbox.sqlite.corrupt-20260112T163900Z-2-wal",
    "outbox.sqlite.corrupt-20260112T163900Z-wal",
  ]);
  assert.equal(
    Deno.readTextFileSync(`${db.path}.corrupt-20260112T163900Z-2-wal`),
    "wal 2",
  );
});
