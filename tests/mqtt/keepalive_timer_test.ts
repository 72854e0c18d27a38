import assert from "node:assert/strict";
import { KeepaliveTimer, type TimerScheduler } from "../../src/mqtt/keepalive_timer.ts";

/** Fake time: timeouts fire in order as `advance` moves the clock. */
class FakeScheduler implements TimerScheduler {
  #now = 0;
  #next = 1;
  readonly pending = new Map<number, { at: number; callback: () => void }>();
  armed = 0;

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): number {
    this.armed++;
    const handle = this.#next++;
    this.pending.set(handle, { at: this.#now + ms, callback });
    return handle;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  advance(ms: number): void {
    const until = this.#now + ms;
    while (true) {
      const [handle, due] = [...this.pending].sort((a, b) => a[1].at - b[1].at)[0] ?? [];
      if (handle === undefined || due === undefined || due.at > until) break;
      this.pending.delete(handle);
      this.#now = due.at;
      due.callback();
    }
    this.#now = until;
  }
}

/** Lets the microtasks queued by `clear` run. */
const microtasks = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

Deno.test("the callback runs every ms, counted from set", () => {
  const scheduler = new FakeScheduler();
  const timer = new KeepaliveTimer(scheduler);
  const runs: number[] = [];
  timer.set(() => runs.push(scheduler.now()), 100);
  scheduler.advance(350);
  assert.deepEqual(runs, [100, 200, 300]);
});

Deno.test("a restart (clear, then set) postpones the callback with one pending timeout", async () => {
  const scheduler = new FakeScheduler();
  const timer = new KeepaliveTimer(scheduler);
  const runs: number[] = [];
  const callback = () => runs.push(scheduler.now());
  let id = timer.set(callback, 100);
  for (let i = 0; i < 1000; i++) {
    scheduler.advance(1);
    timer.clear(id);
    id = timer.set(callback, 100);
  }
  await microtasks();
  assert.deepEqual(runs, [], "restarted every millisecond: never due");
  assert.ok(scheduler.armed <= 20, `${scheduler.armed} timeouts armed for 1000 restarts`);
  scheduler.advance(100);
  assert.deepEqual(runs, [1100], "due 100 ms after the last restart");
});

Deno.test("clear without a set cancels the pending timeout", async () => {
  const scheduler = new FakeScheduler();
  const timer = new KeepaliveTimer(scheduler);
  let runs = 0;
  const id = timer.set(() => runs++, 100);
  timer.clear(id);
  await microtasks();
  assert.equal(scheduler.pending.size, 0, "no timer left behind");
  scheduler.advance(1000);
  assert.equal(runs, 0);
});

Deno.test("clear with an earlier id leaves the current interval running", async () => {
  const scheduler = new FakeScheduler();
  const timer = new KeepaliveTimer(scheduler);
  let runs = 0;
  const stale = timer.set(() => {}, 100);
  timer.set(() => runs++, 100);
  timer.clear(stale);
  await microtasks();
  scheduler.advance(250);
  assert.equal(runs, 2);
});

Deno.test("a set with a shorter interval than the pending timeout is due on time", () => {
  const scheduler = new FakeScheduler();
  const timer = new KeepaliveTimer(scheduler);
  const runs: number[] = [];
  timer.set(() => {}, 1000);
  timer.set(() => runs.push(scheduler.now()), 10);
  scheduler.advance(25);
  assert.deepEqual(runs, [10, 20]);
});
