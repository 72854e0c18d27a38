import assert from "node:assert/strict";
import {
  AnnouncementGate,
  ANNOUNCEMENTS_QUIET_MS,
  ANNOUNCEMENTS_WAIT_MS,
  MAX_HELD_READINGS,
  type Timers,
} from "../../src/proxy/announcement_gate.ts";

/** Timers run by hand: `advance` moves the fake time and fires what is due. */
function fakeTime() {
  const time = { now: 0 };
  let timers: Array<{ at: number; callback: () => void; handle: number }> = [];
  let next = 0;
  const fake: Timers = {
    set: (callback, ms) => {
      timers.push({ at: time.now + ms, callback, handle: ++next });
      return next;
    },
    clear: (handle) => {
      timers = timers.filter((timer) => timer.handle !== handle);
    },
  };
  const advance = (ms: number) => {
    const until = time.now + ms;
    for (;;) {
      timers.sort((a, b) => a.at - b.at);
      const due = timers[0];
      if (due === undefined || due.at > until) break;
      timers.shift();
      time.now = due.at;
      due.callback();
    }
    time.now = until;
  };
  return { time, fake, advance, pending: () => timers.length };
}

function setUp() {
  const t = fakeTime();
  const released: number[] = [];
  const last = { at: 0 };
  const gate = new AnnouncementGate<number>(
    () => last.at,
    (reading) => released.push(reading),
    () => t.time.now,
    t.fake,
  );
  return { ...t, gate, released, last };
}

Deno.test("readings are held until no announcement arrived for a quiet spell", () => {
  const env = setUp();
  assert.equal(env.gate.hold(1), true);
  assert.equal(env.gate.hold(2), true);
  env.advance(1000);
  env.gate.subscribed(env.time.now);
  env.advance(300);
  env.last.at = env.time.now; // an announcement arrives
  env.advance(ANNOUNCEMENTS_QUIET_MS - 1);
  assert.deepEqual(env.released, []);
  env.advance(400);
  assert.deepEqual(env.released, [1, 2]);
  assert.equal(env.gate.closed, false);
  assert.equal(env.gate.hold(3), false);
  assert.equal(env.pending(), 0);
});

Deno.test("without central the readings go on after the longest wait", () => {
  const env = setUp();
  env.gate.hold(1);
  env.advance(ANNOUNCEMENTS_WAIT_MS - 1);
  assert.deepEqual(env.released, []);
  env.advance(1);
  assert.deepEqual(env.released, [1]);
});

Deno.test("too many held readings are released at once, in order", () => {
  const env = setUp();
  for (let i = 0; i < MAX_HELD_READINGS; i++) env.gate.hold(i);
  assert.equal(env.released.length, MAX_HELD_READINGS);
  assert.equal(env.released.at(-1), MAX_HELD_READINGS - 1);
  assert.equal(env.gate.hold(-1), false);
});

Deno.test("opening releases once; a later subscription releases nothing more", () => {
  const env = setUp();
  env.gate.hold(1);
  env.gate.open();
  env.gate.subscribed(env.time.now);
  env.advance(ANNOUNCEMENTS_WAIT_MS);
  assert.deepEqual(env.released, [1]);
});
