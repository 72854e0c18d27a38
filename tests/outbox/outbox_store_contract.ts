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
      assert.deepEqual(store.read(seqs[0], 1), [first[1]]);
      assert.deepEqual(store.read(seqs[2], 10), []);
      assert.deepEqual(first[0], { ...publication(0), seq: seqs[0], enqueuedAt: 1000 });
    } finally {
      store.close();
    }
  });

  Deno.test(`${name}: removals and appends in one write; size follows`, async () => {
    const store = await factory.open();
    try {
      const entries = write(store, [publication(0), publication(1), publication(2)]);
      const bytes = store.size().bytes;
      assert.equal(store.size().entries, 3);
      const next = write(store, [publication(3)], [entries[0].seq, entries[2].seq, 999_999]);
      assert.deepEqual(store.read(0, 10).map((e) => e.seq), [entries[1].seq, next[0].seq]);
      assert.equal(store.size().entries, 2);
      assert.ok(store.size().bytes < bytes);
      write(store, [], [entries[1].seq, next[0].seq]);
      assert.deepEqual(store.size(), { entries: 0, bytes: 0 });
      // Sequence numbers are never reused, even once the store was empty.
      const later = write(store, [publication(4)]);
      assert.ok(later[0].seq > next[0].seq);
    } finally {
      store.close();
    }
  });

  Deno.test(`${name}: lastSeq is the highest sequence number given, never lower once entries left`, async () => {
    const store = await factory.open();
    try {
      assert.equal(store.lastSeq(), 0);
      const entries = write(store, [publication(0), publication(1)]);
      assert.equal(store.lastSeq(), entries[1].seq);
      write(store, [], entries.map((e) => e.seq));
      assert.equal(store.size().entries, 0);
      assert.equal(store.lastSeq(), entries[1].seq, "emptied, not forgotten");
      store.trim({ maxEntries: 0, maxBytes: 0, notBefore: Infinity }, new Set());
      assert.equal(store.lastSeq(), entries[1].seq);
      const next = write(store, [publication(2)]);
      assert.equal(store.lastSeq(), next[0].seq);
    } finally {
      store.close();
    }
  });

  Deno.test(`${name}: trim drops the oldest beyond the bounds, never a kept entry`, async () => {
    const store = await factory.open();
    try {
      const old = write(store, [publication(0), publication(1)], [], 1000);
      const young = write(store, [publication(2), publication(3), publication(4)], [], 5000);
      const keep = new Set([old[0].seq]);
      const unbounded = { maxEntries: 1e9, maxBytes: 1e12 };
      assert.deepEqual(store.trim({ ...unbounded, notBefore: 0 }, keep), []);
      // By age: everything accepted before 2000, except the kept entry.
      assert.deepEqual(store.trim({ ...unbounded, notBefore: 2000 }, keep), [old[1].seq]);
      // By count: down to 2 entries, the kept one stays.
      assert.deepEqual(store.trim({ maxEntries: 2, maxBytes: 1e12, notBefore: 0 }, keep), [
        young[0].seq,
        young[1].seq,
      ]);
      assert.deepEqual(store.read(0, 10).map((e) => e.seq), [old[0].seq, young[2].seq]);
      // By bytes: one entry's worth is left.
      const oneEntry = store.size().bytes / 2;
      assert.deepEqual(
        store.trim({ maxEntries: 1e9, maxBytes: oneEntry, notBefore: 0 }, new Set()),
        [
          old[0].seq,
        ],
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
    write(store, [], [entries[1].seq, entries[2].seq]);
    const size = store.size();
    store.close();
    const again = reopen();
    try {
      assert.deepEqual(again.read(0, 10), [entries[0]]);
      assert.deepEqual(again.size(), size);
      assert.equal(again.lastSeq(), entries[2].seq, "the last sequence number survives too");
      assert.deepEqual(again.meterStates(), new Map([["33B1225950027", '{"live":true}']]));
      assert.ok(write(again, [publication(3)])[0].seq > entries[2].seq);
    } finally {
      again.close();
    }
  });
}
