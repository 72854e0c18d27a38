import assert from "node:assert/strict";
import {
  AVAILABILITY_CHECK_MS,
  EXPIRY_CHECK_MS,
  type Intervals,
  OUTBOX_EXPIRY_CHECK_MS,
  OUTBOX_STATUS_MS,
  PACE_MS,
  type ProxyTasks,
  ProxyTimers,
  SNAPSHOT_MS,
} from "../../src/proxy/proxy_timers.ts";

/** Intervals the test fires by hand. */
function fakeIntervals() {
  let next = 0;
  const running = new Map<number, { callback: () => void; ms: number }>();
  const intervals: Intervals = {
    set: (callback, ms) => {
      running.set(++next, { callback, ms });
      return next;
    },
    clear: (handle) => running.delete(handle as number),
  };
  const every = (ms: number) => [...running.values()].filter((run) => run.ms === ms);
  return { intervals, running, every };
}

function tasks(ran: string[]): ProxyTasks {
  const names: (keyof ProxyTasks)[] = [
    "expireSplitReadings",
    "expireOutbox",
    "publishOutbox",
    "checkAvailability",
    "emitSnapshot",
    "pace",
    "publishStatuses",
    "logStats",
  ];
  return Object.fromEntries(
    names.map((name) => [name, () => ran.push(name)]),
  ) as unknown as ProxyTasks;
}

Deno.test("each task runs at its interval; statuses and stats at the configured ones", () => {
  const { intervals, running } = fakeIntervals();
  const ran: string[] = [];
  new ProxyTimers(tasks(ran), 300, 60, intervals);
  const schedule = [...running.values()].map(({ callback, ms }) => {
    ran.length = 0;
    callback();
    return [ran[0], ms];
  });
  assert.deepEqual(schedule, [
    ["expireSplitReadings", EXPIRY_CHECK_MS],
    ["expireOutbox", OUTBOX_EXPIRY_CHECK_MS],
    ["publishOutbox", OUTBOX_STATUS_MS],
    ["checkAvailability", AVAILABILITY_CHECK_MS],
    ["emitSnapshot", SNAPSHOT_MS],
    ["pace", PACE_MS],
    ["publishStatuses", 300_000],
    ["logStats", 60_000],
  ]);
});

Deno.test("no stats line with logging.stats_interval_seconds 0", () => {
  const { intervals, running } = fakeIntervals();
  new ProxyTimers(tasks([]), 300, 0, intervals);
  assert.equal(running.size, 7);
});

Deno.test("the statuses' interval restarts only when it changed", () => {
  const { intervals, every } = fakeIntervals();
  const timers = new ProxyTimers(tasks([]), 300, 0, intervals);
  const before = every(300_000)[0];
  timers.statusInterval(300);
  assert.equal(every(300_000)[0], before);
  timers.statusInterval(120);
  assert.deepEqual(every(300_000), []);
  assert.equal(every(120_000).length, 1);
});

Deno.test("stop clears every interval, the restarted statuses' one too", () => {
  const { intervals, running } = fakeIntervals();
  const timers = new ProxyTimers(tasks([]), 300, 60, intervals);
  timers.statusInterval(60);
  timers.stop();
  assert.equal(running.size, 0);
});
