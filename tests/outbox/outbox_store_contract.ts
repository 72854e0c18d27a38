/**
 * The contract every {@link OutboxStore} passes; run by each store's test file.
 */
import assert from "node:assert/strict";
import type { OutboxStore, Publication } from "../../src/outbox/outbox_store.ts";

/** How a test file opens its store; `reopen` for durable stores. */
export interface StoreFactory {
  open(): Promise<OutboxStore> | OutboxStore;
  /** Opens the same store again after `close()` (a durable store only). */
  reopen?(): OutboxStore;
}

const NO_STATES = new Map<string, string>();

function publication(i: number, topic = `kpm33b/m${i % 3}/minutes`): Publication {
  return { topic, payload: JSON.stringify({ i }), retain: i % 2 === 0 };
}

function write(store: OutboxStore, append: Publication[], remove: number[] = [], now = 1000) {
  return store.write({ append, remove, meterStates: NO_STATES, now });
}

/** Registers the contract tests for one store implementation. */
export function outboxStoreContract(name: string, factory: StoreFactory): void {
  Deno.test(`${name}: appended entries get increasing sequence numbers and read back in order`, async () => {
    const store = await factory.open();
    try {
      const first = write(store, [publication(0), publication(1)]);
      const second = write(store, [publication(2)]);
      const seqs = [...first, ...second].map((e) => e.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
      assert.equal(new Set(seqs).size, 3);
      assert.deepEqual(store.read(0, 10), [...first, ...second]);
      const [oldest, , newest] = seqs;
      assert.ok(oldest !== undefined && newest !== undefined);
      assert.deepEqual(store.read(oldest, 1), [first[1]]);
      assert.deepEqual(store.read(newest, 10), []);
      assert.deepEqual(first[0], { ...publication(0), seq: oldest, enqueuedAt: 1000 });
    } finally {
      store.close();
    }
  });

  Deno.test(`${name}: removals and appends in one write; size follows`, async () => {
    const store = await factory.open();
    try {
      const [seq0, seq1, seq2] = write(store, [publication(0), publication(1), publication(2)])
        .map((e) => e.seq);
      assert.ok(seq0 !== undefined && seq1 !== undefined && seq2 !== undefined);
      const bytes = store.size().bytes;
      assert.equal(store.size().entries, 3);
      const [seq3] = write(store, [publication(3)], [seq0, seq2, 999_999]).map((e) => e.seq);
      assert.ok(seq3 !== undefined);
      assert.deepEqual(store.read(0, 10).map((e) => e.seq), [seq1, seq3]);
      assert.equal(store.size().entries, 2);
      assert.ok(store.size().bytes < bytes);
      write(store, [], [seq1, seq3]);
      assert.deepEqual(store.size(), { entries: 0, bytes: 0 });
      // Sequence numbers are never reused, even once the store was empty.
      const [later] = write(store, [publication(4)]);
      assert.ok(later !== undefined && later.seq > seq3);
    } finally {
      store.close();
    }
  });

  Deno.test(`${name}: lastSeq is the highest sequence number given, never lower once entries left`, async () => {
    const store = await factory.open();
    try {
      assert.equal(store.lastSeq(), 0);
      const entries = write(store, [publication(0), publication(1)]);
      assert.equal(store.lastSeq(), entries[1]?.seq);
      write(store, [], entries.map((e) => e.seq));
      assert.equal(store.size().entries, 0);
      assert.equal(store.lastSeq(), entries[1]?.seq, "emptied, not forgotten");
      store.trim({ maxEntries: 0, maxBytes: 0, notBefore: Infinity }, new Set());
      assert.equal(store.lastSeq(), entries[1]?.seq);
      const next = write(store, [publication(2)]);
      assert.equal(store.lastSeq(), next[0]?.seq);
    } finally {
      store.close();
    }
  });

  Deno.test(`${name}: trim drops the oldest beyond the bounds, never a kept entry`, async () => {
    const store = await factory.open();
    try {
      const old = write(store, [publication(0), publication(1)], [], 1000);
      const young = write(store, [publication(2), publication(3), publication(4)], [], 5000);
      const [kept, stale] = old.map((e) => e.seq);
      assert.ok(kept !== undefined);
      const keep = new Set([kept]);
      const unbounded = { maxEntries: 1e9, maxBytes: 1e12 };
      assert.deepEqual(store.trim({ ...unbounded, notBefore: 0 }, keep), []);
      // By age: everything accepted before 2000, except the kept entry.
      assert.deepEqual(store.trim({ ...unbounded, notBefore: 2000 }, keep), [stale]);
      // By count: down to 2 entries, the kept one stays.
      const youngSeqs = young.map((e) => e.seq);
      assert.deepEqual(
        store.trim({ maxEntries: 2, maxBytes: 1e12, notBefore: 0 }, keep),
        youngSeqs.slice(0, 2),
      );
      assert.deepEqual(store.read(0, 10).map((e) => e.seq), [kept, youngSeqs[2]]);
      // By bytes: one entry's worth is left.
      const oneEntry = store.size().bytes / 2;
      assert.deepEqual(
        store.trim({ maxEntries: 1e9, maxBytes: oneEntry, notBefore: 0 }, new Set()),
        [kept],
      );
      assert.equal(store.size().entries, 1);
    } finally {
      store.close();
    }
  });

  Deno.test(`${name}: meter states are kept, the latest per meter, least recently written first`, async () => {
    const store = await factory.open();
    try {
      const states = (entries: [string, string][]) =>
        store.write({ append: [], remove: [], meterStates: new Map(entries), now: 0 });
      states([["a", "1"], ["b", "2"]]);
      states([["a", "3"]]);
      assert.deepEqual([...store.meterStates()], [["b", "2"], ["a", "3"]]);
      states([["c", "4"]]);
      assert.equal(store.pruneMeterStates(2), 1);
      assert.deepEqual([...store.meterStates()], [["a", "3"], ["c", "4"]]);
      assert.equal(store.pruneMeterStates(2), 0);
    } finally {
      store.close();
    }
  });

  Deno.test(`${name}: an undefined meter state deletes the stored one`, async () => {
    const store = await factory.open();
    try {
      const states = (entries: [string, string | undefined][]) =>
        store.write({ append: [], remove: [], meterStates: new Map(entries), now: 0 });
      states([["a", "1"], ["b", "2"]]);
      states([["a", undefined], ["c", undefined]]);
      assert.deepEqual([...store.meterStates()], [["b", "2"]]);
      states([["a", "3"]]);
      assert.deepEqual([...store.meterStates()], [["b", "2"], ["a", "3"]]);
    } finally {
      store.close();
    }
  });

  Deno.test(`${name}: pruning counts meter states written again, deleted and added`, async () => {
    const store = await factory.open();
    try {
      const states = (entries: [string, string | undefined][]) =>
        store.write({ append: [], remove: [], meterStates: new Map(entries), now: 0 });
      states([["a", "1"], ["b", "2"], ["c", "3"]]);
      states([["a", "4"], ["b", undefined], ["x", undefined]]);
      assert.equal(store.pruneMeterStates(2), 0, "c and a: b was deleted, x never stored");
      states([["d", "5"]]);
      assert.equal(store.pruneMeterStates(2), 1);
      assert.deepEqual([...store.meterStates()], [["a", "4"], ["d", "5"]]);
    } finally {
      store.close();
    }
  });

  if (factory.reopen === undefined) {
    Deno.test(`${name}: is not durable`, async () => {
      const store = await factory.open();
      store.close();
      assert.equal(store.durable, false);
    });
    return;
  }
  const reopen = factory.reopen;
  Deno.test(`${name}: entries, sizes and meter states survive a reopen`, async () => {
    const store = await factory.open();
    assert.equal(store.durable, true);
    const entries = store.write({
      append: [publication(0), publication(1), publication(2)],
      remove: [],
      meterStates: new Map([["33B1225950027", '{"live":true}']]),
      now: 1000,
    });
    const [, seq1, seq2] = entries.map((e) => e.seq);
    assert.ok(seq1 !== undefined && seq2 !== undefined);
    write(store, [], [seq1, seq2]);
    const size = store.size();
    store.close();
    const again = reopen();
    try {
      assert.deepEqual(again.read(0, 10), [entries[0]]);
      assert.deepEqual(again.size(), size);
      assert.equal(again.lastSeq(), seq2, "the last sequence number survives too");
      assert.deepEqual(again.meterStates(), new Map([["33B1225950027", '{"live":true}']]));
      const [next] = write(again, [publication(3)]);
      assert.ok(next !== undefined && next.seq > seq2);
    } finally {
      again.close();
    }
  });

  Deno.test(`${name}: after a reopen, meter states beyond the bound are still pruned`, async () => {
    const store = await factory.open();
    const states = (target: OutboxStore, entries: [string, string][]) =>
      target.write({ append: [], remove: [], meterStates: new Map(entries), now: 0 });
    states(store, [["a", "1"], ["b", "2"], ["c", "3"]]);
    store.close();
    const again = reopen();
    try {
      assert.equal(again.pruneMeterStates(1), 2);
      states(again, [["c", "4"], ["d", "5"]]);
      assert.equal(again.pruneMeterStates(1), 1);
      assert.deepEqual([...again.meterStates()], [["d", "5"]]);
    } finally {
      again.close();
    }
  });
}
