import assert from "node:assert/strict";
import {
  PRESYNC_COMMITS,
  PRESYNC_MS,
  type Schedule,
  WalPresync,
} from "../../src/outbox/wal_presync.ts";
import { SqliteOutboxStore } from "../../src/outbox/sqlite_outbox_store.ts";

/** Flushes that stay running until the test settles them, and timers the test fires. */
function fakes() {
  const runs: PromiseWithResolvers<void>[] = [];
  const errors: Error[] = [];
  const timers: { run: () => void; ms: number; cancelled: boolean }[] = [];
  const schedule: Schedule = (run, ms) => {
    const timer = { run, ms, cancelled: false };
    timers.push(timer);
    return () => timer.cancelled = true;
  };
  const pending = () => timers.filter((timer) => !timer.cancelled);
  const fire = () => {
    const due = pending();
    for (const timer of due) timer.cancelled = true;
    for (const timer of due) timer.run();
  };
  const presync = new WalPresync(
    () => {
      const run = Promise.withResolvers<void>();
      runs.push(run);
      return run.promise;
    },
    () => {},
    (error) => errors.push(error),
    schedule,
  );
  return { runs, errors, pending, fire, presync };
}

function commit(presync: WalPresync, times: number): void {
  for (let i = 0; i < times; i++) presync.committed();
}

/** Lets a settled flush's callbacks run. */
const turn = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("WalPresync: PRESYNC_COMMITS commits start a flush at once, fewer do not", () => {
  const { runs, pending, presync } = fakes();
  commit(presync, PRESYNC_COMMITS - 1);
  assert.equal(runs.length, 0);
  presync.committed();
  assert.equal(runs.length, 1);
  assert.equal(pending().length, 0, "the flush cancels the timer");
});

Deno.test("WalPresync: a lone commit is flushed PRESYNC_MS later; without commits nothing runs", async () => {
  const { runs, pending, fire, presync } = fakes();
  assert.equal(pending().length, 0);
  presync.committed();
  presync.committed();
  assert.deepEqual(pending().map((timer) => timer.ms), [PRESYNC_MS], "one timer for both");
  assert.equal(runs.length, 0);
  fire();
  assert.equal(runs.length, 1);
  runs[0]!.resolve();
  await turn();
  assert.equal(pending().length, 0, "nothing committed since: no timer");
});

Deno.test("WalPresync: never two flushes at once; what was committed meanwhile is flushed after", async () => {
  const { runs, pending, fire, presync } = fakes();
  commit(presync, PRESYNC_COMMITS);
  commit(presync, 3 * PRESYNC_COMMITS);
  assert.equal(runs.length, 1, "commits during a flush start no second one");
  runs[0]!.resolve();
  await turn();
  assert.equal(runs.length, 2, "enough commits meanwhile: the next flush follows at once");
  commit(presync, 1);
  assert.equal(runs.length, 2);
  runs[1]!.resolve();
  await turn();
  assert.equal(runs.length, 2, "the count starts again with each flush");
  assert.equal(pending().length, 1, "a commit during the flush is flushed by the timer");
  fire();
  assert.equal(runs.length, 3);
  runs[2]!.resolve();
  await turn();
});

Deno.test("WalPresync: a failed flush is reported (SQLite would ignore it); flushing goes on", async () => {
  const { runs, errors, presync } = fakes();
  commit(presync, PRESYNC_COMMITS);
  runs[0]!.reject(new Error("EIO"));
  await turn();
  assert.deepEqual(errors.map((error) => error.message), ["EIO"]);
  commit(presync, PRESYNC_COMMITS);
  assert.equal(runs.length, 2);
  runs[1]!.resolve();
  await turn();
});

Deno.test("WalPresync: close cancels the timer, starts nothing more and releases the file once", async () => {
  const { runs, pending, presync } = fakes();
  let closed = 0;
  const closing = new WalPresync(() => Promise.resolve(), () => closed++, () => {});
  closing.close();
  closing.close();
  assert.equal(closed, 1);
  presync.committed();
  presync.close();
  assert.equal(pending().length, 0);
  commit(presync, 2 * PRESYNC_COMMITS);
  assert.equal(runs.length, 0);
  await turn();
});

Deno.test("WalPresync.open: opens the WAL of an outbox; one it cannot open is reported", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-presync-" });
  try {
    const errors: Error[] = [];
    assert.equal(
      WalPresync.open(`${dir}/none.sqlite-wal`, (error) => errors.push(error)),
      undefined,
    );
    assert.ok(errors[0] instanceof Deno.errors.NotFound, String(errors[0]));
    const store = new SqliteOutboxStore(`${dir}/outbox.sqlite`);
    const presync = WalPresync.open(`${dir}/outbox.sqlite-wal`, (error) => errors.push(error));
    assert.ok(presync !== undefined);
    assert.equal(errors.length, 1);
    presync.close();
    store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("WalPresync: flushes a real WAL while SQLite writes it, and the outbox reads back whole", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-presync-" });
  try {
    const path = `${dir}/outbox.sqlite`;
    const store = new SqliteOutboxStore(path);
    const wal = await Deno.open(`${path}-wal`, { read: true });
    const flushes: Promise<void>[] = [];
    const presync = new WalPresync(
      () => {
        const flush = wal.syncData();
        flushes.push(flush);
        return flush;
      },
      () => wal.close(),
      (error) => assert.fail(error),
    );
    const payload = "x".repeat(2000);
    for (let i = 0; i < 4 * PRESYNC_COMMITS; i++) {
      store.write({
        append: [{ topic: `kpm33b/m${i}/seconds`, payload, retain: false }],
        remove: [],
        meterStates: new Map([[`m${i % 7}`, `{"i":${i}}`]]),
        now: i,
      });
      presync.committed();
      if (i % PRESYNC_COMMITS === 0) await Promise.all(flushes);
    }
    await Promise.all(flushes);
    assert.ok(flushes.length >= 3, `${flushes.length} flushes`);
    presync.close();
    store.close();
    const again = new SqliteOutboxStore(path);
    try {
      assert.equal(again.read(0, 1000).length, 4 * PRESYNC_COMMITS);
      assert.equal(again.meterStates().size, 7);
    } finally {
      again.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
