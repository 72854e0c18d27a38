import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  OutboxCorruptError,
  OutboxStoreError,
  SqliteOutboxStore,
} from "../../src/outbox/sqlite_outbox_store.ts";
import { PRESYNC_COMMITS, WalPresync } from "../../src/outbox/wal_presync.ts";
import { outboxStoreContract } from "./outbox_store_contract.ts";

let path = "";
outboxStoreContract("SqliteOutboxStore", {
  async open() {
    path = `${await Deno.makeTempDir({ prefix: "kpm33b-outbox-" })}/outbox.sqlite`;
    return new SqliteOutboxStore(path);
  },
  reopen: () => new SqliteOutboxStore(path),
});

Deno.test("SqliteOutboxStore: a second bridge on the same state_dir is refused with a clear message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-outbox-" });
  const store = new SqliteOutboxStore(`${dir}/outbox.sqlite`);
  try {
    // Another process holds the file: a child Deno opens it while this one has it locked.
    const child = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { SqliteOutboxStore } from "${
          new URL("../../src/outbox/sqlite_outbox_store.ts", import.meta.url).href
        }";
        try { new SqliteOutboxStore("${dir}/outbox.sqlite"); console.log("opened"); }
        catch (e) { console.log(e.name + ": " + e.message); }`,
      ],
    }).output();
    const said = new TextDecoder().decode(child.stdout).trim();
    assert.equal(
      said,
      `OutboxInUseError: ${dir}/outbox.sqlite is in use by another bridge process; ` +
        "each bridge needs its own state_dir",
    );
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteOutboxStore: an unusable path names the file and the reason", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-outbox-" });
  try {
    assert.throws(
      () => new SqliteOutboxStore(`${dir}/missing/outbox.sqlite`),
      (error: Error) =>
        error instanceof OutboxStoreError &&
        error.message.startsWith(`cannot open the outbox ${dir}/missing/outbox.sqlite: `),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteOutboxStore: a damaged file is an OutboxCorruptError naming it, and is left as it was", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-outbox-" });
  try {
    const path = `${dir}/outbox.sqlite`;
    const store = new SqliteOutboxStore(path);
    store.write({
      append: Array.from(
        { length: 500 },
        (_, i) => ({ topic: "t", payload: `${i}`, retain: false }),
      ),
      remove: [],
      meterStates: new Map(),
      now: 0,
    });
    store.close();
    Deno.truncateSync(path, Math.floor(Deno.statSync(path).size / 2));
    const damaged = Deno.readFileSync(path);
    assert.throws(
      () => new SqliteOutboxStore(path),
      (error: Error) =>
        error instanceof OutboxCorruptError && error.path === path &&
        error.reason === "database disk image is malformed" &&
        error.message.startsWith(
          `the outbox ${path} is damaged (database disk image is malformed)`,
        ),
    );
    assert.deepEqual(Deno.readFileSync(path), damaged);
    // The failed open closed its connection: trying again finds the damage, not a lock.
    assert.throws(() => new SqliteOutboxStore(path), OutboxCorruptError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteOutboxStore: continueAfter makes the sequence go on after a number, never back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-outbox-" });
  try {
    const path = `${dir}/outbox.sqlite`;
    const store = new SqliteOutboxStore(path);
    const one = { append: [{ topic: "t", payload: "p", retain: false }], remove: [], now: 0 };
    store.continueAfter(3050);
    assert.equal(store.lastSeq(), 3050);
    assert.equal(store.write({ ...one, meterStates: new Map() })[0]?.seq, 3051);
    store.continueAfter(10);
    assert.equal(store.lastSeq(), 3051);
    store.continueAfter(5000);
    store.close();
    const again = new SqliteOutboxStore(path);
    assert.equal(again.lastSeq(), 5000);
    assert.equal(again.write({ ...one, meterStates: new Map() })[0]?.seq, 5001);
    again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteOutboxStore: an outbox from an earlier version loses its index on meter_state.written and keeps its data", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-outbox-" });
  try {
    const path = `${dir}/outbox.sqlite`;
    const store = new SqliteOutboxStore(path);
    store.write({
      append: [{ topic: "t", payload: "p", retain: false }],
      remove: [],
      meterStates: new Map([["a", "1"], ["b", "2"]]),
      now: 0,
    });
    store.close();
    const earlier = new DatabaseSync(path);
    earlier.exec("CREATE INDEX meter_state_written ON meter_state (written)");
    earlier.close();
    const indexes = () => {
      const db = new DatabaseSync(path);
      try {
        return (db.prepare("PRAGMA index_list(meter_state)").all() as { name: string }[])
          .map((row) => row.name);
      } finally {
        db.close();
      }
    };
    assert.ok(indexes().includes("meter_state_written"));
    const again = new SqliteOutboxStore(path);
    try {
      assert.deepEqual([...again.meterStates()], [["a", "1"], ["b", "2"]]);
      assert.equal(again.read(0, 10).length, 1);
      assert.equal(again.pruneMeterStates(1), 1);
    } finally {
      again.close();
    }
    assert.ok(!indexes().includes("meter_state_written"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A store whose WAL flusher counts commits with fake flushes and timers. */
function storeWithFakePresync(path: string) {
  let walPath = "";
  const flushes: PromiseWithResolvers<void>[] = [];
  const cancelled: number[] = [];
  let timers = 0;
  let closed = 0;
  const store = new SqliteOutboxStore(path, {
    presync: (wal, onError) => {
      walPath = wal;
      return new WalPresync(
        () => {
          const flush = Promise.withResolvers<void>();
          flushes.push(flush);
          return flush.promise;
        },
        () => closed++,
        onError,
        () => {
          const timer = ++timers;
          return () => cancelled.push(timer);
        },
      );
    },
  });
  return {
    store,
    walPath: () => walPath,
    flushes,
    timers: () => timers,
    cancelled,
    closed: () => closed,
  };
}

Deno.test("SqliteOutboxStore: every commit counts towards a flush of its WAL; close releases the flusher", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-outbox-" });
  try {
    const path = `${dir}/outbox.sqlite`;
    const fake = storeWithFakePresync(path);
    assert.equal(fake.walPath(), `${await Deno.realPath(dir)}/outbox.sqlite-wal`);
    const one = { append: [{ topic: "t", payload: "p", retain: false }], remove: [], now: 0 };
    for (let i = 0; i < PRESYNC_COMMITS - 2; i++) {
      fake.store.write({ ...one, meterStates: new Map() });
    }
    fake.store.continueAfter(100_000);
    assert.equal(fake.flushes.length, 0);
    assert.equal(fake.timers(), 1, "the first commit armed the timer");
    fake.store.pruneMeterStates(0);
    fake.store.write({ ...one, meterStates: new Map([["a", "1"]]) });
    fake.store.pruneMeterStates(0);
    assert.equal(fake.flushes.length, 1, "writes, continueAfter and pruning are commits");
    fake.flushes[0]!.resolve();
    await new Promise((resolve) => setTimeout(resolve, 0));
    fake.store.close();
    assert.equal(fake.closed(), 1);
    assert.deepEqual(fake.cancelled, [1, 2], "the timer is cancelled by the flush and by close");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteOutboxStore: the WAL flushed is the one beside the file a symbolic link names", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-outbox-" });
  try {
    await Deno.mkdir(`${dir}/disk`);
    new SqliteOutboxStore(`${dir}/disk/outbox.sqlite`).close();
    await Deno.symlink(`${dir}/disk/outbox.sqlite`, `${dir}/outbox.sqlite`);
    const fake = storeWithFakePresync(`${dir}/outbox.sqlite`);
    fake.store.close();
    assert.equal(fake.walPath(), `${await Deno.realPath(dir)}/disk/outbox.sqlite-wal`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteOutboxStore: a write that fails leaves the count of meter states as it was", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-outbox-" });
  const store = new SqliteOutboxStore(`${dir}/outbox.sqlite`);
  try {
    const states = (entries: [string, string | undefined][]) =>
      store.write({ append: [], remove: [], meterStates: new Map(entries), now: 0 });
    states([["a", "1"], ["b", "2"], ["c", "3"]]);
    // A value SQLite cannot bind fails the write after the deletion of a.
    const unbindable = {} as unknown as string;
    assert.throws(() => states([["a", undefined], ["b", unbindable]]), OutboxStoreError);
    assert.equal(store.meterStates().size, 3);
    assert.equal(
      store.pruneMeterStates(2),
      1,
      "a's deletion was rolled back, and so was its count",
    );
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
