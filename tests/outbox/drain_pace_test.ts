import assert from "node:assert/strict";
import { DRAIN_BURST_SECONDS, DrainPace } from "../../src/outbox/drain_pace.ts";

/** A drain pace on a clock the test moves. */
function paced(rate: number) {
  const clock = { now: 1_000_000 };
  const pace = new DrainPace(rate, () => clock.now);
  return { clock, pace };
}

/** How many publications may go now. */
function takeAll(pace: DrainPace, most = 10_000): number {
  let taken = 0;
  while (taken < most && pace.take()) taken++;
  return taken;
}

Deno.test("without a backlog every publication may go", () => {
  const { pace } = paced(10);
  assert.equal(pace.backlog, 0);
  assert.equal(takeAll(pace, 50), 50);
});

Deno.test("an unlimited rate has no backlog and never asks what is held", () => {
  const { clock, pace } = paced(0);
  pace.start(clock.now, () => assert.fail("held asked with an unlimited rate"));
  assert.equal(pace.backlog, 0);
  assert.equal(takeAll(pace, 5), 5);
});

Deno.test("the backlog leaves at the rate, in bursts of at most DRAIN_BURST_SECONDS", () => {
  const { clock, pace } = paced(100);
  pace.start(clock.now, () => 1000);
  assert.equal(pace.backlog, 1000);
  assert.equal(takeAll(pace), 0, "no token at the moment of connection");
  assert.equal(pace.waitMs, 10);
  clock.now += 50;
  assert.equal(takeAll(pace), 5);
  clock.now += 60_000;
  assert.equal(takeAll(pace), 100 * DRAIN_BURST_SECONDS, "a late timer makes up a burst only");
  assert.equal(pace.backlog, 1000 - 5 - 100 * DRAIN_BURST_SECONDS);
});

Deno.test("a slow rate still sends one at a time", () => {
  const { clock, pace } = paced(2);
  pace.start(clock.now, () => 3);
  assert.equal(pace.waitMs, 500);
  clock.now += 499;
  assert.equal(takeAll(pace), 0);
  clock.now += 1;
  assert.equal(takeAll(pace), 1);
  clock.now += 10_000;
  assert.equal(takeAll(pace), 1);
});

Deno.test("readings accepted during a drain pass on their credits, on top of the rate", () => {
  const { clock, pace } = paced(10);
  pace.start(clock.now, () => 100);
  pace.accepted(3);
  assert.equal(takeAll(pace), 3);
  assert.equal(pace.backlog, 100, "credits do not consume the backlog");
  clock.now += 100;
  assert.equal(takeAll(pace), 1);
  assert.equal(pace.backlog, 99);
});

Deno.test("a new connection starts without the tokens left from the last drain", () => {
  const { clock, pace } = paced(100);
  pace.start(clock.now, () => 3);
  clock.now += 1000;
  assert.equal(takeAll(pace, 3), 3);
  assert.equal(pace.backlog, 0);
  pace.start(clock.now, () => 50);
  assert.equal(takeAll(pace), 0);
});

Deno.test("clip bounds the backlog and the credits by what is held", () => {
  const { clock, pace } = paced(10);
  pace.start(clock.now, () => 100);
  pace.accepted(50);
  pace.clip(60);
  assert.equal(pace.backlog, 60);
  pace.clip(60);
  assert.equal(takeAll(pace), 0, "no credit is left when the backlog fills what is held");
  pace.accepted(5);
  pace.clip(62);
  assert.equal(takeAll(pace), 2);
  pace.clip(0);
  assert.equal(pace.backlog, 0);
  assert.equal(takeAll(pace, 7), 7);
});

Deno.test("a backlog from a negative count starts empty", () => {
  const { clock, pace } = paced(10);
  pace.start(clock.now, () => -3);
  assert.equal(pace.backlog, 0);
});

Deno.test("stop ends the drain and its credits; start counts tokens from the new connection", () => {
  const { clock, pace } = paced(10);
  pace.start(clock.now, () => 50);
  pace.accepted(5);
  pace.stop();
  assert.equal(pace.backlog, 0);
  clock.now += 60_000;
  pace.start(clock.now, () => 50);
  assert.equal(takeAll(pace), 0, "neither old credits nor tokens of the outage carry over");
  clock.now += 100;
  assert.equal(takeAll(pace), 1);
});

Deno.test("the wait for the next token is rounded up to whole milliseconds", () => {
  assert.equal(paced(3).pace.waitMs, 334);
  assert.equal(paced(1000).pace.waitMs, 1);
});
