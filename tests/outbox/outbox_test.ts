import assert from "node:assert/strict";
import {
  DRAIN_BURST_SECONDS,
  Outbox,
  type OutboxOptions,
  REMOVAL_WRITE_MS,
  WINDOW,
} from "../../src/outbox/outbox.ts";
import { MemoryOutboxStore } from "../../src/outbox/memory_outbox_store.ts";
import {
  entryBytes,
  type OutboxEntry,
  type OutboxStore,
  type Publication,
} from "../../src/outbox/outbox_store.ts";
import { SqliteOutboxStore } from "../../src/outbox/sqlite_outbox_store.ts";
import { sleep, until } from "../helpers/wait.ts";

/** A central broker stand-in: records publishes and acknowledges them on request. */
class FakeCentral {
  readonly sent: { entry: OutboxEntry; done: (error?: Error) => void }[] = [];
  readonly publish: OutboxOptions["publish"] = (entry, done) => this.sent.push({ entry, done });
  /** Payloads sent so far. */
  payloads(): string[] {
    return this.sent.map((s) => s.entry.payload);
  }
  /** The oldest publish not acknowledged yet; the test fails when there is none. */
  first(): { entry: OutboxEntry; done: (error?: Error) => void } {
    const [first] = this.sent;
    assert.ok(first !== undefined, "a publish waits for its acknowledgement");
    return first;
  }
  /** Takes every publish not acknowledged yet, and gives the oldest. */
  takeFirst(): { entry: OutboxEntry; done: (error?: Error) => void } {
    const first = this.first();
    this.sent.splice(0);
    return first;
  }
  /** Acknowledges every publish not acknowledged yet. */
  ackAll(): void {
    for (const s of this.sent.splice(0)) s.done();
  }
}

function reading(topic: string, payload: string): Publication {
  return { topic, payload, retain: false };
}

async function sqliteStore(): Promise<{ store: SqliteOutboxStore; path: string }> {
  const path = `${await Deno.makeTempDir({ prefix: "kpm33b-outbox-" })}/outbox.sqlite`;
  return { store: new SqliteOutboxStore(path), path };
}

function outbox(store: OutboxStore, central: FakeCentral, options: Partial<OutboxOptions> = {}) {
  return new Outbox({
    store,
    maxEntries: 1_000_000,
    maxBytes: 1e12,
    maxAgeMs: 1e12,
    maxMeterStates: 1_000_000,
    drainRatePerSecond: 0,
    publish: central.publish,
    ...options,
  });
}

/** Lets a scheduled write (setImmediate) run. */
const settle = () => sleep(5);

Deno.test("one publication per topic in flight; the next only after the previous left the store", async () => {
  const { store } = await sqliteStore();
  const central = new FakeCentral();
  const box = outbox(store, central);
  box.setConnected(true);
  for (const p of ["a1", "a2", "a3"]) box.accept([reading("t/a", p)], [], () => {});
  box.accept([reading("t/b", "b1")], [], () => {});
  await settle();
  assert.deepEqual(central.payloads(), ["a1", "b1"]);
  central.ackAll();
  assert.equal(store.size().entries, 4, "removal is written before the next is sent");
  await settle();
  assert.equal(store.size().entries, 2);
  assert.deepEqual(central.payloads(), ["a2"]);
  central.ackAll();
  await settle();
  central.ackAll();
  await settle();
  assert.deepEqual(box.status().entries, 0);
  box.close();
});

Deno.test("durable store: the removal of a topic's last entry rides with the next batch", async () => {
  const { store, path } = await sqliteStore();
  const central = new FakeCentral();
  const box = outbox(store, central);
  box.setConnected(true);
  box.accept([reading("t/a", "a1")], [], () => {});
  await settle();
  central.ackAll();
  await settle();
  assert.equal(store.size().entries, 1, "nothing waits for it: not a write of its own");
  assert.equal(box.status().entries, 0, "a delivered entry is not reported as waiting");
  assert.equal(box.status().bytes, 0);
  assert.equal(box.status().oldest, undefined);
  box.accept([reading("t/b", "b1")], [], () => {});
  await settle();
  assert.equal(store.size().entries, 1, "written with b1's batch: only b1 is stored");
  assert.deepEqual(central.payloads(), ["b1"]);
  central.ackAll();
  await settle();
  box.close();
  const reopened = new SqliteOutboxStore(path);
  assert.equal(reopened.size().entries, 0, "close() writes the removals still pending");
  reopened.close();
});

Deno.test("durable store: the status counts what is not delivered, not a delivered entry whose removal is pending", async () => {
  const { store } = await sqliteStore();
  const central = new FakeCentral();
  let now = 1_000;
  const box = outbox(store, central, { now: () => now });
  box.setConnected(true);
  box.accept([reading("t/a", "délivré")], [], () => {});
  await settle();
  now = 2_000;
  const waiting = reading("t/b", "en attente €");
  box.accept([waiting], [], () => {});
  await settle();
  assert.deepEqual(central.payloads(), ["délivré", "en attente €"]);
  central.first().done();
  await settle();
  assert.equal(store.size().entries, 2, "the delivered entry's removal is still pending");
  const status = box.status();
  assert.equal(status.entries, 1);
  assert.equal(status.bytes, entryBytes(waiting));
  assert.equal(status.oldest, 2_000);
  box.close();
});

Deno.test("durable store: a pending removal is written after REMOVAL_WRITE_MS when no batch comes", async () => {
  const { store } = await sqliteStore();
  const central = new FakeCentral();
  const box = outbox(store, central);
  box.setConnected(true);
  box.accept([reading("t/a", "a1")], [], () => {});
  await settle();
  const delivered = Date.now();
  central.ackAll();
  await until(() => store.size().entries === 0, "the removal's write", REMOVAL_WRITE_MS + 2000);
  assert.ok(Date.now() - delivered >= REMOVAL_WRITE_MS - 20, "not before REMOVAL_WRITE_MS");
  box.close();
});

Deno.test("durable store: the topic's next reading waits for the pending removal and takes it along", async () => {
  const { store } = await sqliteStore();
  const central = new FakeCentral();
  const storedWhenSent: number[] = [];
  const box = outbox(store, central, {
    publish: (entry, done) => {
      storedWhenSent.push(store.size().entries);
      central.publish(entry, done);
    },
  });
  box.setConnected(true);
  box.accept([reading("t/a", "a1")], [], () => {});
  await settle();
  central.ackAll();
  await settle();
  box.accept([reading("t/a", "a2")], [], () => {});
  await settle();
  assert.deepEqual(central.payloads(), ["a2"], "sent at once, not after REMOVAL_WRITE_MS");
  assert.deepEqual(storedWhenSent, [1, 1], "when a2 was sent, a1's removal was stored");
  box.close();
});

Deno.test("durable store: while the store holds more than the window, a removal is written at once", async () => {
  const { store } = await sqliteStore();
  const central = new FakeCentral();
  const box = outbox(store, central);
  // One entry per topic, so no topic has a successor waiting: only the store's excess does.
  for (let i = 0; i < WINDOW + 10; i++) box.accept([reading(`t/${i}`, `p${i}`)], [], () => {});
  await settle();
  box.setConnected(true);
  assert.equal(central.sent.length, WINDOW);
  central.first().done();
  await settle();
  assert.equal(store.size().entries, WINDOW + 9, "written without waiting for a batch");
  box.close();
});

Deno.test("durable store: after a reconnect, an entry whose removal is pending is neither sent again nor backlog", async () => {
  const { store } = await sqliteStore();
  const central = new FakeCentral();
  const box = outbox(store, central, { drainRatePerSecond: 1 });
  box.setConnected(true);
  box.accept([reading("t/a", "a1")], [], () => {});
  box.accept([reading("t/b", "b1")], [], () => {});
  await settle();
  central.ackAll();
  await settle();
  assert.equal(store.size().entries, 2, "both removals pending");
  box.setConnected(false);
  box.setConnected(true);
  await settle();
  assert.deepEqual(central.payloads(), []);
  assert.equal(box.backlog, 0);
  box.accept([reading("t/c", "c1")], [], () => {});
  await settle();
  assert.deepEqual(central.payloads(), ["c1"], "not held back by a backlog of delivered entries");
  box.close();
});

Deno.test("durable store: expire() does not drop a delivered entry whose removal is pending", async () => {
  const { store } = await sqliteStore();
  const central = new FakeCentral();
  let now = 1_000_000;
  const dropped: number[] = [];
  const box = outbox(store, central, {
    maxAgeMs: 60_000,
    now: () => now,
    onDropped: (count) => dropped.push(count),
  });
  box.setConnected(true);
  box.accept([reading("t/a", "a1")], [], () => {});
  await settle();
  central.ackAll();
  await settle();
  now += 120_000;
  box.expire();
  assert.deepEqual(dropped, [], "delivered, not dropped");
  assert.equal(box.status().dropped, 0);
  assert.equal(box.status().entries, 0);
  box.flush();
  assert.equal(store.size().entries, 0);
  box.close();
});

Deno.test("durable store: a reading is accepted once written, before central has it", async () => {
  const { store } = await sqliteStore();
  const central = new FakeCentral();
  const box = outbox(store, central);
  let accepted = 0;
  box.accept([reading("t/a", "a1"), reading("t/discovery", "d")], [], () => accepted++);
  assert.equal(accepted, 0, "not before the write");
  await settle();
  assert.equal(accepted, 1);
  assert.equal(store.size().entries, 2);
  assert.deepEqual(central.payloads(), [], "central is not connected");
  // A reading without publications (dropped, rejected) has nothing to store: accepted at once.
  box.accept([], [], () => accepted++);
  assert.equal(accepted, 2);
  box.close();
});

Deno.test("memory store: a reading is accepted only once central acknowledged all its publications", async () => {
  const central = new FakeCentral();
  const box = outbox(new MemoryOutboxStore(), central);
  box.setConnected(true);
  let accepted = 0;
  box.accept([reading("t/a", "a1"), reading("t/b", "b1")], [], () => accepted++);
  await settle();
  central.first().done();
  await settle();
  assert.equal(accepted, 0);
  central.ackAll();
  await settle();
  assert.equal(accepted, 1);
  box.close();
});

Deno.test("a disconnect sends in-flight publications again on reconnect; late callbacks are ignored", async () => {
  const central = new FakeCentral();
  const delivered: string[] = [];
  const box = outbox(new MemoryOutboxStore(), central, {
    onDelivered: (entry) => delivered.push(entry.payload),
  });
  box.setConnected(true);
  box.accept([reading("t/a", "a1")], [], () => {});
  box.accept([reading("t/a", "a2")], [], () => {});
  await settle();
  assert.deepEqual(central.payloads(), ["a1"]);
  const stale = central.takeFirst();
  box.setConnected(false);
  stale.done();
  await settle();
  assert.deepEqual(delivered, [], "an acknowledgement from the old connection is not trusted");
  box.setConnected(true);
  assert.deepEqual(central.payloads(), ["a1"]);
  central.ackAll();
  await settle();
  central.ackAll();
  await settle();
  assert.deepEqual(delivered, ["a1", "a2"]);
  box.close();
});

Deno.test("a publish refused while connected is retried after a pause, not in a loop", async () => {
  const central = new FakeCentral();
  const box = outbox(new MemoryOutboxStore(), central);
  box.setConnected(true);
  box.accept([reading("t/a", "a1")], [], () => {});
  await settle();
  central.takeFirst().done(new Error("refused"));
  await settle();
  assert.equal(central.sent.length, 0);
  await until(() => central.sent.length === 1, "the retry", 3000);
  central.ackAll();
  await settle();
  assert.equal(box.status().entries, 0);
  box.close();
});

Deno.test("a backlog is delivered at drainRatePerSecond; live readings are not held back by the rate", async () => {
  let now = 0;
  const central = new FakeCentral();
  const box = outbox(new MemoryOutboxStore(), central, {
    drainRatePerSecond: 100,
    now: () => now,
  });
  for (let i = 0; i < 5; i++) box.accept([reading(`t/${i}`, `old${i}`)], [], () => {});
  await settle();
  now = 1000;
  box.setConnected(true);
  assert.deepEqual(central.payloads(), [], "no tokens yet");
  now = 1030; // 3 tokens at 100/s
  await until(() => central.sent.length === 3, "three backlog publications", 3000);
  await sleep(50);
  assert.equal(central.sent.length, 3, "no more until time passes");
  box.accept([reading("t/live", "live")], [], () => {});
  await settle();
  assert.deepEqual(central.payloads(), ["old0", "old1", "old2", "live"]);
  now = 2000;
  await until(() => central.sent.length === 6, "the rest of the backlog", 3000);
  assert.deepEqual(central.payloads().slice(4), ["old3", "old4"]);
  box.close();
});

Deno.test("after a pause the drain makes up a tenth of a second's worth at most, not a whole second", async () => {
  let now = 0;
  const central = new FakeCentral();
  const box = outbox(new MemoryOutboxStore(), central, {
    drainRatePerSecond: 100,
    now: () => now,
  });
  for (let i = 0; i < 50; i++) box.accept([reading(`t/${i}`, `old${i}`)], [], () => {});
  await settle();
  now = 1000;
  box.setConnected(true);
  assert.equal(box.backlog, 50);
  now = 5000; // the event loop was busy for 4 s: 400 tokens' worth, a burst of 10 (0.1 s)
  await until(() => central.sent.length === 10, "the burst", 3000);
  await sleep(50);
  assert.equal(central.sent.length, 100 * DRAIN_BURST_SECONDS);
  now = 5050;
  await until(() => central.sent.length === 15, "five more at 100/s", 3000);
  await sleep(50);
  assert.equal(central.sent.length, 15);
  assert.equal(box.backlog, 35);
  box.close();
});

Deno.test("readings arriving during a drain pass at their pace; those queued behind the backlog are not released at once after it", async () => {
  // 10 topics with 5 readings each held when central connects, drained at 10/s (1 per
  // 100 ms step, burst 1); meanwhile one reading a step arrives, on topics in turn, so
  // it queues behind its topic's backlog.
  let now = 0;
  const { store } = await sqliteStore();
  const central = new FakeCentral();
  const box = outbox(store, central, { drainRatePerSecond: 10, now: () => now });
  for (let n = 0; n < 5; n++) {
    for (let t = 0; t < 10; t++) box.accept([reading(`t/${t}`, `old ${n}`)], [], () => {});
  }
  await settle();
  now = 1000;
  box.setConnected(true);
  const perStep: number[] = [];
  const sent: OutboxEntry[] = [];
  let heldWhenThrough: number | undefined;
  for (let step = 1; step <= 70; step++) {
    now = 1000 + step * 100;
    sent.push(...central.sent.map((s) => s.entry));
    central.ackAll();
    if (step <= 60) box.accept([reading(`t/${step % 10}`, `live ${step}`)], [], () => {});
    await settle();
    perStep.push(central.sent.length);
    if (box.backlog === 0) heldWhenThrough ??= box.status().entries;
  }
  sent.push(...central.sent.map((s) => s.entry));
  central.ackAll();
  await settle();
  // A token and a credit a step: 10/s plus the readings arriving, never the queued ones at once.
  assert.ok(Math.max(...perStep) <= 2, `sent per 100 ms step: ${perStep.join(" ")}`);
  assert.equal(sent.length, 110, "everything delivered");
  assert.ok(
    heldWhenThrough !== undefined && heldWhenThrough <= 2,
    `${heldWhenThrough} entries held when the backlog was through`,
  );
  for (let t = 0; t < 10; t++) {
    const topic = sent.filter((e) => e.topic === `t/${t}`).map((e) => e.seq);
    assert.deepEqual(topic, [...topic].sort((a, b) => a - b), `order of t/${t}`);
  }
  // Through: readings go out as they come, unpaced.
  for (let i = 0; i < 20; i++) box.accept([reading(`u/${i}`, "new")], [], () => {});
  await settle();
  assert.equal(central.sent.length, 20);
  box.close();
});

Deno.test("entries dropped during a drain leave the backlog: what arrives next is not paced for them", async () => {
  let now = 0;
  const central = new FakeCentral();
  const box = outbox(new MemoryOutboxStore(), central, {
    drainRatePerSecond: 1,
    maxAgeMs: 1000,
    now: () => now,
  });
  for (let i = 0; i < 5; i++) box.accept([reading(`t/${i}`, `old${i}`)], [], () => {});
  await settle();
  box.setConnected(true);
  assert.equal(box.backlog, 5);
  now = 2000;
  box.expire();
  assert.equal(box.backlog, 0);
  assert.ok(central.sent.length <= 1, "at most the one in flight");
  for (let i = 0; i < 5; i++) box.accept([reading(`u/${i}`, "new")], [], () => {});
  await settle();
  assert.deepEqual(central.payloads().filter((p) => p === "new").length, 5);
  box.close();
});

Deno.test("beyond maxEntries the oldest are dropped and counted; the rest is delivered in order", async () => {
  const { store } = await sqliteStore();
  const central = new FakeCentral();
  const drops: [number, string][] = [];
  const box = outbox(store, central, {
    maxEntries: 3,
    onDropped: (count, cause) => drops.push([count, cause]),
  });
  for (let i = 1; i <= 5; i++) box.accept([reading("t/a", `a${i}`)], [], () => {});
  await settle();
  assert.deepEqual(drops, [[2, "full"]]);
  assert.deepEqual(box.status().dropped, 2);
  box.setConnected(true);
  const seen: string[] = [];
  while (seen.length < 3) {
    await until(() => central.sent.length > 0, "next publication", 3000);
    seen.push(...central.payloads());
    central.ackAll();
    await settle();
  }
  assert.deepEqual(seen, ["a3", "a4", "a5"]);
  box.close();
});

Deno.test("entries older than maxAgeMs are dropped on expire()", async () => {
  let now = 0;
  const central = new FakeCentral();
  const drops: [number, string][] = [];
  const box = outbox(new MemoryOutboxStore(), central, {
    maxAgeMs: 1000,
    now: () => now,
    onDropped: (count, cause) => drops.push([count, cause]),
  });
  box.accept([reading("t/a", "old")], [], () => {});
  await settle();
  now = 1500;
  box.accept([reading("t/a", "young")], [], () => {});
  await settle();
  box.expire();
  assert.deepEqual(drops, [[1, "expired"]]);
  box.setConnected(true);
  assert.deepEqual(central.payloads(), ["young"]);
  box.close();
});

Deno.test("after a restart the stored backlog is delivered first, in order, beyond the memory window", async () => {
  const { store, path } = await sqliteStore();
  const before = outbox(store, new FakeCentral());
  const count = WINDOW + 500;
  for (let i = 0; i < count; i++) {
    before.accept([reading(`t/${i % 2}`, String(i))], [], () => {});
  }
  await settle();
  before.close();

  const central = new FakeCentral();
  const after = outbox(new SqliteOutboxStore(path), central);
  assert.equal(after.status().entries, count);
  after.accept([reading("t/0", "new")], [], () => {});
  after.setConnected(true);
  const seen: string[] = [];
  while (seen.length < count + 1) {
    await until(() => central.sent.length > 0, `publication ${seen.length}`, 3000);
    seen.push(...central.payloads());
    central.ackAll();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  const topic0 = seen.filter((p) => p === "new" || Number(p) % 2 === 0);
  assert.deepEqual(
    topic0,
    [...Array.from({ length: count / 2 }, (_, i) => String(i * 2)), "new"],
  );
  assert.equal(new Set(seen).size, count + 1);
  after.close();
});

Deno.test("meter states are read once per meter per write and stored with the entries", async () => {
  const { store, path } = await sqliteStore();
  const asked: string[] = [];
  let version = 0;
  const box = outbox(store, new FakeCentral(), {
    meterState: (id) => {
      asked.push(id);
      return id === "none" ? undefined : `${id}@${++version}`;
    },
  });
  box.accept([reading("t/a", "1")], ["a"], () => {});
  box.accept([reading("t/a", "2"), reading("t/b", "1")], ["a", "b"], () => {});
  box.accept([reading("t/c", "1")], ["none"], () => {});
  await settle();
  assert.deepEqual(asked.sort(), ["a", "b", "none"]);
  box.close();
  const reopened = new SqliteOutboxStore(path);
  // "none" has no state: nothing is stored for it.
  assert.deepEqual(reopened.meterStates(), new Map([["a", "a@1"], ["b", "b@2"]]));
  reopened.close();
});

Deno.test("rewriteMeterState writes a meter's state anew, deleting it when it has none", async () => {
  const { store, path } = await sqliteStore();
  const states = new Map([["a", "a@1"], ["b", "b@1"]]);
  const box = outbox(store, new FakeCentral(), { meterState: (id) => states.get(id) });
  box.accept([reading("t/a", "1"), reading("t/b", "1")], ["a", "b"], () => {});
  await settle();
  states.delete("a");
  states.set("b", "b@2");
  box.rewriteMeterState("a");
  box.rewriteMeterState("b");
  await settle();
  box.close();
  const reopened = new SqliteOutboxStore(path);
  assert.deepEqual(reopened.meterStates(), new Map([["b", "b@2"]]));
  reopened.close();
});

Deno.test("an entry delivered by central is not also counted as dropped by expire()", async () => {
  let now = 0;
  const central = new FakeCentral();
  const delivered: string[] = [];
  const drops: [number, string][] = [];
  const box = outbox(new MemoryOutboxStore(), central, {
    maxAgeMs: 1000,
    now: () => now,
    onDelivered: (entry) => delivered.push(entry.payload),
    onDropped: (count, cause) => drops.push([count, cause]),
  });
  box.accept([reading("t/a", "a1")], [], () => {});
  await settle();
  box.setConnected(true);
  now = 5000;
  central.first().done(); // delivered; its removal waits for the next write
  box.expire(); // the periodic expiry runs before that write
  await settle();
  try {
    assert.deepEqual(delivered, ["a1"]);
    assert.deepEqual(drops, [], "a1 was delivered, yet reported dropped as expired");
    assert.equal(box.status().dropped, 0);
  } finally {
    box.close();
  }
});

Deno.test("close() sends no new publication; what was in flight is sent after the next start", async () => {
  const central = new FakeCentral();
  const box = outbox(new MemoryOutboxStore(), central);
  box.setConnected(true);
  box.accept([reading("t/a", "a1")], [], () => {});
  box.accept([reading("t/a", "a2")], [], () => {});
  await settle();
  assert.deepEqual(central.payloads(), ["a1"]);
  central.takeFirst().done(); // a1 acknowledged, its removal not yet written
  box.close();
  assert.deepEqual(central.payloads(), [], "close() published a2 to central while closing");
});

Deno.test("a publish failing after close() leaves no timer running", async () => {
  const central = new FakeCentral();
  const box = outbox(new MemoryOutboxStore(), central);
  box.setConnected(true);
  box.accept([reading("t/a", "a1")], [], () => {});
  await settle();
  box.close();
  const original = globalThis.setTimeout;
  const started: number[] = [];
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    started.push(ms ?? 0);
    return original(fn, ms);
  }) as typeof setTimeout;
  try {
    // e.g. mqtt.js failing its outgoing callbacks with "Connection closed"
    central.first().done(new Error("Connection closed"));
  } finally {
    globalThis.setTimeout = original;
  }
  assert.deepEqual(started, [], "a retry timer was started after close()");
});

Deno.test("memory store: a reading without publications is accepted only after everything accepted before it left", async () => {
  const central = new FakeCentral();
  const box = outbox(new MemoryOutboxStore(), central);
  box.setConnected(true);
  const accepted: string[] = [];
  box.accept([reading("t/a", "a1")], [], () => accepted.push("a1"));
  box.accept([], [], () => accepted.push("duplicate of a1"));
  await settle();
  assert.equal(
    accepted.length,
    0,
    "a1 exists only in memory: its duplicate is not acknowledged yet",
  );
  central.ackAll();
  await settle();
  assert.deepEqual(accepted, ["a1", "duplicate of a1"]);
  box.accept([], [], () => accepted.push("nothing pending"));
  await settle();
  assert.deepEqual(accepted.at(-1), "nothing pending");
  box.close();
});

Deno.test("expire() forgets the least recently written meter states beyond maxMeterStates", async () => {
  const { store } = await sqliteStore();
  let n = 0;
  const box = outbox(store, new FakeCentral(), {
    maxMeterStates: 2,
    meterState: (id) => `${id}@${++n}`,
  });
  for (const id of ["a", "b", "c", "a"]) {
    box.accept([reading(`t/${id}`, "1")], [id], () => {});
    await settle();
  }
  box.expire();
  assert.deepEqual(store.meterStates(), new Map([["c", "c@3"], ["a", "a@4"]]));
  box.close();
});
