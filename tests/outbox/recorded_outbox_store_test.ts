/**
 * The record kept beside a durable store: the store still passes the
 * contract; the record follows its commits at most once per interval, is
 * final at close, and marks damage the store reports.
 */
import assert from "node:assert/strict";
import { MemoryOutboxStore } from "../../src/outbox/memory_outbox_store.ts";
import { readOutboxRecord, recordPathOf } from "../../src/outbox/outbox_record.ts";
import type { OutboxWrite } from "../../src/outbox/outbox_store.ts";
import { RecordedOutboxStore } from "../../src/outbox/recorded_outbox_store.ts";
import { OutboxCorruptError, SqliteOutboxStore } from "../../src/outbox/sqlite_outbox_store.ts";
import { until } from "../helpers/wait.ts";
import { outboxStoreContract } from "./outbox_store_contract.ts";

let path = "";
outboxStoreContract("RecordedOutboxStore", {
  async open() {
    path = `${await Deno.makeTempDir({ prefix: "kpm33b-recorded-" })}/outbox.sqlite`;
    return new RecordedOutboxStore(new SqliteOutboxStore(path), path);
  },
  reopen: () => new RecordedOutboxStore(new SqliteOutboxStore(path), path),
});

function change(count: number, remove: number[] = []): OutboxWrite {
  return {
    append: Array.from({ length: count }, (_, i) => ({
      topic: `kpm33b/m${i}/minutes`,
      payload: "{}",
      retain: false,
    })),
    remove,
    meterStates: new Map(),
    now: 0,
  };
}

async function tempDatabase() {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-recorded-" });
  return {
    path: `${dir}/outbox.sqlite`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

function recorded(db: string) {
  const found = readOutboxRecord(db);
  assert.equal(found.kind, "found", JSON.stringify(found));
  return found.kind === "found" ? found.record : assert.fail();
}

Deno.test("the record is written at open, after commits at most once per interval, the last commit at the interval's end, and at close", async () => {
  await using db = await tempDatabase();
  let now = 1_000_000;
  const store = new RecordedOutboxStore(new SqliteOutboxStore(db.path), db.path, {
    intervalMs: 200,
    now: () => now,
  });
  try {
    assert.deepEqual(recorded(db.path), { lastSeq: 0, depth: 0, writtenAt: 1_000_000 });

    now += 300;
    store.write(change(2));
    assert.deepEqual(recorded(db.path), { lastSeq: 2, depth: 2, writtenAt: 1_000_300 });
    now += 50;
    const [more] = store.write(change(3));
    assert.ok(more !== undefined);
    now += 50;
    store.write(change(0, [more.seq]));
    assert.equal(recorded(db.path).lastSeq, 2, "within the interval: not yet");
    await until(() => recorded(db.path).lastSeq === 5, "the record at the interval's end", 3_000);
    assert.deepEqual(recorded(db.path), { lastSeq: 5, depth: 4, writtenAt: now });

    now += 1000;
    store.trim({ maxEntries: 1, maxBytes: 1e9, notBefore: 0 }, new Set());
    assert.deepEqual(recorded(db.path), { lastSeq: 5, depth: 1, writtenAt: now });
    now += 10;
    store.write(change(1));
  } finally {
    store.close();
  }
  assert.deepEqual(recorded(db.path), { lastSeq: 6, depth: 2, writtenAt: now }, "final at close");
});

Deno.test("a record that cannot be written is reported; the store goes on", async () => {
  await using db = await tempDatabase();
  const errors: Error[] = [];
  // A directory where the record belongs: every write of it fails.
  await Deno.mkdir(recordPathOf(db.path));
  const store = new RecordedOutboxStore(new SqliteOutboxStore(db.path), db.path, {
    intervalMs: 0,
    onRecordError: (error) => errors.push(error),
  });
  try {
    assert.equal(store.write(change(2)).length, 2);
    assert.equal(store.size().entries, 2);
  } finally {
    store.close();
  }
  assert.equal(errors.length, 3, "at open, after the write, at close");
});

/** A store that reports damage on its next write, as SQLite does for a malformed page. */
class DamagedStore extends MemoryOutboxStore {
  closed = false;

  override write(_change: OutboxWrite): never {
    throw new OutboxCorruptError("/x/outbox.sqlite", "database disk image is malformed");
  }

  override close(): void {
    this.closed = true;
  }
}

Deno.test("damage the store reports is marked in the record before the error goes on; the mark stays", async () => {
  await using db = await tempDatabase();
  const inner = new DamagedStore();
  const store = new RecordedOutboxStore(inner, db.path, { now: () => 5000 });
  assert.throws(() => store.write(change(1)), OutboxCorruptError);
  assert.deepEqual(recorded(db.path), {
    lastSeq: 0,
    depth: 0,
    writtenAt: 5000,
    failure: "database disk image is malformed",
  });
  store.close();
  assert.ok(inner.closed);
  assert.equal(recorded(db.path).failure, "database disk image is malformed", "not overwritten");
});
