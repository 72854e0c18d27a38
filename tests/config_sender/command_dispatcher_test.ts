import assert from "node:assert/strict";
import {
  CommandDispatcher,
  type CommandResult,
  type DispatcherOptions,
} from "../../src/config_sender/command_dispatcher.ts";
import {
  clockCommand,
  type MeterCommand,
  minutesIntervalCommand,
  type Oprid,
  relayCommand,
  secondsIntervalCommand,
} from "../../src/protocol/commands.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";
import type { CommandReply } from "../../src/protocol/uplink.ts";
import { sleep, until } from "../helpers/wait.ts";

const A = MeterId.parse("33B1225950027");
const B = MeterId.parse("33B1225950028");
const C = MeterId.parse("33B1225950029");

/** A distinct 32-hex-digit oprid per number: oprid(1) = "000…001". */
const oprid = (n: number): Oprid => n.toString(16).padStart(32, "0");

interface Settled {
  readonly command: MeterCommand;
  readonly result: CommandResult;
}

function harness(options: Partial<DispatcherOptions> = {}) {
  const sent: MeterCommand[] = [];
  const results: Settled[] = [];
  const dispatcher = new CommandDispatcher({
    ackTimeoutMs: 50,
    retries: 2,
    maxParallel: 4,
    retryDelayMs: 5,
    send: (command) => {
      sent.push(command);
      return command;
    },
    onResult: (command, result) => results.push({ command, result }),
    ...options,
  });
  return { dispatcher, sent, results };
}

function reply(command: MeterCommand, code: "01" | "02" = "01", msg?: string): CommandReply {
  return { id: command.id, oprid: command.oprid, code, ...(msg === undefined ? {} : { msg }) };
}

/** A settled command without its measured latency, to compare exactly. */
function withoutLatency({ command, result }: Settled) {
  if (!result.ok) return { command, result };
  const { latencyMs: _, ...rest } = result;
  return { command, result: rest };
}

/** Polls every 2 ms: the dispatcher's time-outs here are tens of milliseconds. */
const POLL_MS = 2;

Deno.test("a command is sent at once and a matching success reply settles it with one attempt", () => {
  const { dispatcher, sent, results } = harness();
  const command = secondsIntervalCommand(A, 60, oprid(1));
  dispatcher.enqueue([command]);
  assert.deepEqual(sent, [command]);
  assert.equal(dispatcher.busyMeters, 1);
  assert.equal(dispatcher.queuedCommands, 0);

  assert.equal(dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(command)), true);
  assert.deepEqual(results.map(withoutLatency), [
    { command, result: { ok: true, attempts: 1, reply: reply(command) } },
  ]);
  const result = results[0]?.result;
  assert.ok(result?.ok && result.latencyMs >= 0 && result.latencyMs < 1000);
  assert.equal(dispatcher.busyMeters, 0);
  dispatcher.stop();
});

Deno.test("a meter has one outstanding command; its next one goes out after the acknowledgement", () => {
  const { dispatcher, sent, results } = harness();
  const seconds = secondsIntervalCommand(A, 60, oprid(1));
  const minutes = minutesIntervalCommand(A, 15, oprid(2));
  dispatcher.enqueue([seconds, minutes]);
  assert.deepEqual(sent, [seconds]);
  assert.equal(dispatcher.busyMeters, 1);
  assert.equal(dispatcher.queuedCommands, 1);

  assert.equal(dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(seconds)), true);
  assert.deepEqual(sent, [seconds, minutes]);
  assert.equal(dispatcher.busyMeters, 1);
  assert.equal(dispatcher.queuedCommands, 0);

  assert.equal(dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(minutes)), true);
  assert.deepEqual(results.map((r) => r.command), [seconds, minutes]);
  assert.equal(dispatcher.busyMeters, 0);
  dispatcher.stop();
});

Deno.test("a second enqueue for a busy meter waits until the outstanding command is acknowledged", () => {
  const { dispatcher, sent } = harness();
  const first = secondsIntervalCommand(A, 60, oprid(1));
  const second = clockCommand(A, "20260112163900", oprid(2));
  dispatcher.enqueue([first]);
  dispatcher.enqueue([second]);
  assert.deepEqual(sent, [first]);
  assert.equal(dispatcher.queuedCommands, 1);

  dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(first));
  assert.deepEqual(sent, [first, second]);
  dispatcher.stop();
});

Deno.test("different meters are served in parallel up to maxParallel; the rest go out as slots free", () => {
  const { dispatcher, sent } = harness({ maxParallel: 2 });
  const a = secondsIntervalCommand(A, 60, oprid(1));
  const b = secondsIntervalCommand(B, 60, oprid(2));
  const c = secondsIntervalCommand(C, 60, oprid(3));
  dispatcher.enqueue([a, b, c]);
  assert.deepEqual(sent, [a, b]);
  assert.equal(dispatcher.busyMeters, 2);
  assert.equal(dispatcher.queuedCommands, 1);

  assert.equal(dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(b)), true);
  assert.deepEqual(sent, [a, b, c]);
  assert.equal(dispatcher.busyMeters, 2);
  assert.equal(dispatcher.queuedCommands, 0);
  dispatcher.stop();
});

Deno.test("a refused command frees its slot for a waiting meter", () => {
  const { dispatcher, sent } = harness({ maxParallel: 1 });
  const a = secondsIntervalCommand(A, 60, oprid(1));
  const b = minutesIntervalCommand(B, 5, oprid(2));
  dispatcher.enqueue([a, b]);
  assert.deepEqual(sent, [a]);
  dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(a, "02"));
  assert.deepEqual(sent, [a, b]);
  assert.equal(dispatcher.busyMeters, 1);
  dispatcher.stop();
});

Deno.test("waiting meters get free slots in the order they were enqueued", () => {
  const { dispatcher, sent } = harness({ maxParallel: 1 });
  const a = secondsIntervalCommand(A, 60, oprid(1));
  const c = secondsIntervalCommand(C, 60, oprid(2));
  const b = secondsIntervalCommand(B, 60, oprid(3));
  dispatcher.enqueue([a, c, b]);
  dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(a));
  dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(c));
  assert.deepEqual(sent.map((s) => s.id), [A, C, B]);
  dispatcher.stop();
});

Deno.test("a reply with another oprid is not matched and the command stays outstanding", () => {
  const { dispatcher, results } = harness();
  const command = secondsIntervalCommand(A, 60, oprid(1));
  dispatcher.enqueue([command]);
  const stray = { ...reply(command), oprid: oprid(99) };
  assert.equal(dispatcher.handleReply("MQTT_COMMOD_SET_REP", stray), false);
  assert.deepEqual(results, []);
  assert.equal(dispatcher.busyMeters, 1);
  assert.equal(dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(command)), true);
  dispatcher.stop();
});

Deno.test("a reply on the wrong topic is not matched", () => {
  const { dispatcher, results } = harness();
  const interval = secondsIntervalCommand(A, 60, oprid(1));
  const clock = clockCommand(B, "20260112163900", oprid(2));
  dispatcher.enqueue([interval, clock]);
  assert.equal(dispatcher.handleReply("MQTT_METER_TIME_REP", reply(interval)), false);
  assert.equal(dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(clock)), false);
  assert.equal(dispatcher.handleReply("MQTT_SYS_SET_REP", reply(interval)), false);
  assert.deepEqual(results, []);
  assert.equal(dispatcher.busyMeters, 2);
  assert.equal(dispatcher.handleReply("MQTT_METER_TIME_REP", reply(clock)), true);
  assert.equal(dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(interval)), true);
  assert.equal(results.length, 2);
  dispatcher.stop();
});

Deno.test("a reply from another meter is not matched, even with the same oprid", () => {
  const { dispatcher, results } = harness();
  const a = secondsIntervalCommand(A, 60, oprid(1));
  const b = secondsIntervalCommand(B, 60, oprid(2));
  dispatcher.enqueue([a]);
  // B has nothing outstanding.
  assert.equal(dispatcher.handleReply("MQTT_COMMOD_SET_REP", { ...reply(a), id: B }), false);
  dispatcher.enqueue([b]);
  // B is busy, but with another oprid.
  assert.equal(dispatcher.handleReply("MQTT_COMMOD_SET_REP", { ...reply(a), id: B }), false);
  assert.deepEqual(results, []);
  assert.equal(dispatcher.busyMeters, 2);
  dispatcher.stop();
});

Deno.test("a repeated reply after the command settled is not matched again", () => {
  const { dispatcher, results } = harness();
  const command = secondsIntervalCommand(A, 60, oprid(1));
  dispatcher.enqueue([command]);
  assert.equal(dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(command)), true);
  assert.equal(dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(command)), false);
  assert.equal(results.length, 1);
  dispatcher.stop();
});

Deno.test("code 02 fails at once with the code and message in the reason, without retries", async () => {
  const { dispatcher, sent, results } = harness({ ackTimeoutMs: 20, retries: 3 });
  const command = minutesIntervalCommand(A, 15, oprid(1));
  dispatcher.enqueue([command]);
  assert.equal(
    dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(command, "02", "value out of range")),
    true,
  );
  assert.deepEqual(results, [{
    command,
    result: {
      ok: false,
      attempts: 1,
      outcome: "refused",
      reason: "meter replied code 02: value out of range",
    },
  }]);
  // Well past the acknowledgement timeout and retry delay: nothing is repeated.
  await sleep(80);
  assert.deepEqual(sent, [command]);
  assert.equal(results.length, 1);
  assert.equal(dispatcher.busyMeters, 0);
  dispatcher.stop();
});

Deno.test("code 02 without a message gives a reason with just the code", () => {
  const { dispatcher, results } = harness();
  const command = clockCommand(A, "20260112163900", oprid(1));
  dispatcher.enqueue([command]);
  dispatcher.handleReply("MQTT_METER_TIME_REP", reply(command, "02"));
  assert.deepEqual(results.map((r) => r.result), [
    { ok: false, attempts: 1, outcome: "refused", reason: "meter replied code 02" },
  ]);
  dispatcher.stop();
});

Deno.test("a missing acknowledgement is retried with the same oprid, then fails after retries + 1 attempts", async () => {
  const { dispatcher, sent, results } = harness({ ackTimeoutMs: 20, retries: 2, retryDelayMs: 5 });
  const command = secondsIntervalCommand(A, 300, oprid(7));
  dispatcher.enqueue([command]);
  await until(() => results.length === 1, "one result", 3_000, POLL_MS);
  assert.equal(sent.length, 3);
  for (const attempt of sent) assert.deepEqual(attempt, command);
  assert.deepEqual(results, [{
    command,
    result: {
      ok: false,
      attempts: 3,
      outcome: "unanswered",
      reason: "no acknowledgement after 3 attempts",
    },
  }]);
  assert.equal(dispatcher.busyMeters, 0);
  // Past another timeout and retry delay: no fourth attempt.
  await sleep(60);
  assert.equal(sent.length, 3);
  dispatcher.stop();
});

Deno.test("with zero retries a missing acknowledgement fails after one attempt", async () => {
  const { dispatcher, sent, results } = harness({ ackTimeoutMs: 20, retries: 0 });
  const command = secondsIntervalCommand(A, 60, oprid(1));
  dispatcher.enqueue([command]);
  await until(() => results.length === 1, "one result", 3_000, POLL_MS);
  assert.equal(sent.length, 1);
  assert.deepEqual(results[0]?.result, {
    ok: false,
    attempts: 1,
    outcome: "unanswered",
    reason: "no acknowledgement after 1 attempt",
  });
  dispatcher.stop();
});

Deno.test("an acknowledgement of a retried attempt succeeds with the attempt count", async () => {
  const { dispatcher, sent, results } = harness({ ackTimeoutMs: 20, retries: 3 });
  const command = minutesIntervalCommand(A, 5, oprid(3));
  dispatcher.enqueue([command]);
  await until(() => sent.length === 2, "2 commands sent", 3_000, POLL_MS);
  assert.equal(sent[1]?.oprid, oprid(3));
  assert.equal(dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(command)), true);
  assert.deepEqual(results.map(withoutLatency), [
    { command, result: { ok: true, attempts: 2, reply: reply(command) } },
  ]);
  // Past another timeout: the answered command is not repeated.
  await sleep(60);
  assert.equal(sent.length, 2);
  dispatcher.stop();
});

Deno.test("a timed-out command frees the meter for its next queued command", async () => {
  const { dispatcher, sent, results } = harness({ ackTimeoutMs: 20, retries: 0 });
  const first = secondsIntervalCommand(A, 60, oprid(1));
  const second = minutesIntervalCommand(A, 15, oprid(2));
  dispatcher.enqueue([first, second]);
  await until(() => results.length === 1, "one result", 3_000, POLL_MS);
  assert.deepEqual(sent, [first, second]);
  assert.equal(dispatcher.busyMeters, 1);
  assert.equal(dispatcher.queuedCommands, 0);
  dispatcher.stop();
});

Deno.test("a newer queued command of the same kind for the same meter replaces the older one", () => {
  const { dispatcher, sent } = harness();
  const outstanding = secondsIntervalCommand(A, 60, oprid(1));
  const older = minutesIntervalCommand(A, 60, oprid(2));
  const clock = clockCommand(A, "20260112163900", oprid(3));
  const newer = minutesIntervalCommand(A, 15, oprid(4));
  dispatcher.enqueue([outstanding, older, clock]);
  assert.equal(dispatcher.queuedCommands, 2);
  dispatcher.enqueue([newer]);
  assert.equal(dispatcher.queuedCommands, 2);

  dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(outstanding));
  dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(newer));
  // The replacement keeps the older command's place in the queue.
  assert.deepEqual(sent, [outstanding, newer, clock]);
  dispatcher.stop();
});

Deno.test("replacement within one enqueue call keeps only the last command of a kind", () => {
  const { dispatcher, sent } = harness();
  const busy = clockCommand(A, "20260112163900", oprid(1));
  const first = secondsIntervalCommand(A, 60, oprid(2));
  const last = secondsIntervalCommand(A, 30, oprid(3));
  dispatcher.enqueue([busy, first, last]);
  assert.equal(dispatcher.queuedCommands, 1);
  dispatcher.handleReply("MQTT_METER_TIME_REP", reply(busy));
  assert.deepEqual(sent, [busy, last]);
  dispatcher.stop();
});

Deno.test("an outstanding command is not replaced; a new one of the same kind queues behind it", () => {
  const { dispatcher, sent, results } = harness();
  const first = secondsIntervalCommand(A, 60, oprid(1));
  const second = secondsIntervalCommand(A, 30, oprid(2));
  dispatcher.enqueue([first]);
  dispatcher.enqueue([second]);
  assert.deepEqual(sent, [first]);
  assert.equal(dispatcher.queuedCommands, 1);
  assert.equal(dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(first)), true);
  assert.deepEqual(results.map((r) => r.command), [first]);
  assert.deepEqual(sent, [first, second]);
  dispatcher.stop();
});

Deno.test("commands for other meters or of other kinds are never replaced", () => {
  const { dispatcher } = harness({ maxParallel: 1 });
  dispatcher.enqueue([
    secondsIntervalCommand(A, 60, oprid(1)),
    secondsIntervalCommand(B, 60, oprid(2)),
    minutesIntervalCommand(B, 15, oprid(3)),
    secondsIntervalCommand(C, 60, oprid(4)),
  ]);
  assert.equal(dispatcher.busyMeters, 1);
  assert.equal(dispatcher.queuedCommands, 3);
  dispatcher.stop();
});

Deno.test("has() reports queued and outstanding commands by meter and kind", () => {
  const { dispatcher } = harness();
  const seconds = secondsIntervalCommand(A, 60, oprid(1));
  const minutes = minutesIntervalCommand(A, 15, oprid(2));
  assert.equal(dispatcher.has(A, "interval_seconds"), false);
  dispatcher.enqueue([seconds, minutes]);
  assert.equal(dispatcher.has(A, "interval_seconds"), true); // outstanding
  assert.equal(dispatcher.has(A, "interval_minutes"), true); // queued
  assert.equal(dispatcher.has(A, "clock"), false);
  assert.equal(dispatcher.has(B, "interval_seconds"), false);

  dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(seconds));
  assert.equal(dispatcher.has(A, "interval_seconds"), false);
  assert.equal(dispatcher.has(A, "interval_minutes"), true); // now outstanding
  dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(minutes));
  assert.equal(dispatcher.has(A, "interval_minutes"), false);
  dispatcher.stop();
});

Deno.test("busyMeters and queuedCommands count across meters", () => {
  const { dispatcher } = harness({ maxParallel: 2 });
  assert.equal(dispatcher.busyMeters, 0);
  assert.equal(dispatcher.queuedCommands, 0);
  const a1 = secondsIntervalCommand(A, 60, oprid(1));
  const a2 = minutesIntervalCommand(A, 15, oprid(2));
  const b1 = secondsIntervalCommand(B, 60, oprid(3));
  const c1 = secondsIntervalCommand(C, 60, oprid(4));
  const c2 = clockCommand(C, "20260112163900", oprid(5));
  dispatcher.enqueue([a1, a2, b1, c1, c2]);
  assert.equal(dispatcher.busyMeters, 2);
  assert.equal(dispatcher.queuedCommands, 3);

  dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(a1)); // a2 goes out (A was waiting first)
  assert.equal(dispatcher.busyMeters, 2);
  assert.equal(dispatcher.queuedCommands, 2);
  dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(b1)); // c1 goes out
  assert.equal(dispatcher.busyMeters, 2);
  assert.equal(dispatcher.queuedCommands, 1);
  dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(a2));
  assert.equal(dispatcher.busyMeters, 1);
  assert.equal(dispatcher.queuedCommands, 1);
  dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(c1)); // c2 goes out
  assert.equal(dispatcher.busyMeters, 1);
  assert.equal(dispatcher.queuedCommands, 0);
  dispatcher.handleReply("MQTT_METER_TIME_REP", reply(c2));
  assert.equal(dispatcher.busyMeters, 0);
  assert.equal(dispatcher.queuedCommands, 0);
  dispatcher.stop();
});

Deno.test("stop() abandons outstanding and queued commands and nothing is sent afterwards", async () => {
  const { dispatcher, sent, results } = harness({ ackTimeoutMs: 20, retries: 3, maxParallel: 1 });
  const a = secondsIntervalCommand(A, 60, oprid(1));
  const b = secondsIntervalCommand(B, 60, oprid(2));
  dispatcher.enqueue([a, b]);
  assert.deepEqual(sent, [a]);
  dispatcher.stop();
  assert.equal(dispatcher.busyMeters, 0);
  assert.equal(dispatcher.queuedCommands, 0);
  assert.equal(dispatcher.has(A, "interval_seconds"), false);
  assert.equal(dispatcher.has(B, "interval_seconds"), false);
  assert.equal(dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(a)), false);

  // Past the timeout and retry delay: nothing stopped is sent or settled.
  await sleep(80);
  assert.deepEqual(sent, [a]);
  assert.deepEqual(results, []);
});

Deno.test("stop() while a retried attempt awaits its acknowledgement ends the retries", async () => {
  const { dispatcher, sent, results } = harness({ ackTimeoutMs: 20, retries: 5, retryDelayMs: 5 });
  dispatcher.enqueue([secondsIntervalCommand(A, 60, oprid(1))]);
  await until(() => sent.length === 2, "2 commands sent", 3_000, POLL_MS);
  dispatcher.stop();
  // Past the next timeout and retry delay: no further attempt.
  await sleep(80);
  assert.equal(sent.length, 2);
  assert.deepEqual(results, []);
});

Deno.test("stop() during the pause before a retry cancels the pending retry", async () => {
  const { dispatcher, sent, results } = harness({
    ackTimeoutMs: 20,
    retries: 2,
    retryDelayMs: 200,
  });
  dispatcher.enqueue([secondsIntervalCommand(A, 60, oprid(1))]);
  // The timeout has fired; the retry waits 100–200 ms.
  await sleep(50);
  assert.equal(sent.length, 1);
  dispatcher.stop();
  // A retry timer left running would also fail this test as a leak.
  await sleep(20);
  assert.equal(sent.length, 1);
  assert.deepEqual(results, []);
});

Deno.test("commands enqueued after stop() are not sent", async () => {
  const { dispatcher, sent } = harness({ ackTimeoutMs: 20 });
  dispatcher.stop();
  dispatcher.enqueue([secondsIntervalCommand(A, 60, oprid(1))]);
  // Longer than a send would take: a stopped dispatcher sends nothing.
  await sleep(40);
  assert.deepEqual(sent, []);
  assert.equal(dispatcher.busyMeters, 0);
  dispatcher.stop();
});

Deno.test("a clock command re-stamped by send is what the reply is matched against and what onResult receives", () => {
  const original = clockCommand(A, "20260112163900", oprid(9));
  const stamped = clockCommand(A, "20260112163907", oprid(9));
  const received: MeterCommand[] = [];
  const { dispatcher, results } = harness({
    send: (command) => {
      received.push(command);
      return stamped;
    },
  });
  dispatcher.enqueue([original]);
  assert.deepEqual(received, [original]);
  assert.equal(dispatcher.handleReply("MQTT_METER_TIME_REP", reply(stamped)), true);
  assert.equal(results.length, 1);
  assert.equal(results[0]?.command, stamped);
  assert.equal(JSON.parse(results[0]?.command.payload ?? "{}").time, "20260112163907");
  assert.deepEqual(withoutLatency(results[0]).result, {
    ok: true,
    attempts: 1,
    reply: reply(stamped),
  });
  dispatcher.stop();
});

Deno.test("each retry is re-stamped from the command the previous attempt sent", async () => {
  const received: MeterCommand[] = [];
  let second = 0;
  const { dispatcher, results } = harness({
    ackTimeoutMs: 20,
    retries: 1,
    send: (command) => {
      received.push(command);
      second++;
      return clockCommand(command.id, `2026011216390${second}`, command.oprid);
    },
  });
  dispatcher.enqueue([clockCommand(A, "20260112163900", oprid(5))]);
  await until(() => results.length === 1, "one result", 3_000, POLL_MS);
  assert.deepEqual(received.map((c) => JSON.parse(c.payload).time), [
    "20260112163900",
    "20260112163901",
  ]);
  assert.ok(received.every((c) => c.oprid === oprid(5)));
  assert.equal(JSON.parse(results[0]?.command.payload ?? "{}").time, "20260112163902");
  assert.deepEqual(results[0]?.result, {
    ok: false,
    attempts: 2,
    outcome: "unanswered",
    reason: "no acknowledgement after 2 attempts",
  });
  dispatcher.stop();
});

Deno.test("a late acknowledgement arriving in the pause before a retry settles the command", async () => {
  const { dispatcher, sent, results } = harness({
    ackTimeoutMs: 20,
    retries: 2,
    retryDelayMs: 400,
  });
  const command = secondsIntervalCommand(A, 60, oprid(1));
  dispatcher.enqueue([command]);
  // The timeout has fired; the retry waits 200–400 ms.
  await sleep(60);
  assert.equal(sent.length, 1);
  assert.equal(dispatcher.busyMeters, 1);
  assert.equal(dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(command)), true);
  assert.deepEqual(results.map(withoutLatency), [
    { command, result: { ok: true, attempts: 1, reply: reply(command) } },
  ]);
  const result = results[0]?.result;
  assert.ok(result?.ok && result.latencyMs >= 0 && result.latencyMs < 1000);
  assert.equal(dispatcher.busyMeters, 0);
  dispatcher.stop();
});

Deno.test("the latency of a success is measured from the attempt the meter answered", async () => {
  const { dispatcher, sent, results } = harness({ ackTimeoutMs: 40, retries: 2, retryDelayMs: 5 });
  const command = secondsIntervalCommand(A, 60, oprid(1));
  dispatcher.enqueue([command]);
  await until(() => sent.length === 2, "2 commands sent", 3_000, POLL_MS);
  // Into the second attempt's wait, so its latency differs from the first's.
  await sleep(25);
  assert.equal(dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(command)), true);
  const result = results[0]?.result;
  assert.ok(result?.ok);
  // The second attempt went out at most ~40 ms ago; the first one earlier than that.
  assert.ok(result.latencyMs >= 20 && result.latencyMs < 45, `latency ${result.latencyMs}`);
  dispatcher.stop();
});

Deno.test("a request's command neither replaces nor is replaced by a configuration command", () => {
  const { dispatcher, sent, results } = harness();
  const busy = minutesIntervalCommand(A, 15, oprid(1));
  const daily = secondsIntervalCommand(A, 60, oprid(2));
  const requested = { ...secondsIntervalCommand(A, 30, oprid(3)), request: "r1" };
  const newer = { ...secondsIntervalCommand(A, 300, oprid(4)), request: "r1" };
  dispatcher.enqueue([busy, daily, requested, newer]);
  assert.equal(dispatcher.queuedCommands, 2);
  assert.equal(dispatcher.has(A, "interval_seconds"), true);
  for (const command of [busy, daily, newer]) {
    assert.equal(dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(command)), true);
  }
  assert.deepEqual(sent.map((c) => c.oprid), [oprid(1), oprid(2), oprid(4)]);
  assert.deepEqual(results.map((r) => r.command.request), [undefined, undefined, "r1"]);
  // Only configuration-flow commands count for `has`.
  dispatcher.enqueue([{ ...secondsIntervalCommand(A, 30, oprid(5)), request: "r2" }]);
  assert.equal(dispatcher.has(A, "interval_seconds"), false);
  dispatcher.stop();
});

Deno.test("commands go out at most ratePerSecond a second, however fast meters acknowledge", async () => {
  let now = 0;
  const { dispatcher, sent } = harness({
    ackTimeoutMs: 60_000,
    maxParallel: 100,
    ratePerSecond: 5,
    now: () => now,
  });
  const meters = Array.from({ length: 12 }, (_, i) => MeterId.parse(`33B12259${50100 + i}`));
  dispatcher.enqueue(meters.map((id, i) => secondsIntervalCommand(id, 60, oprid(i + 1))));
  assert.equal(sent.length, 5, "the burst of one second's worth");
  for (const command of sent) dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(command));
  assert.equal(sent.length, 5, "acknowledgements free slots, not tokens");
  now = 1000;
  await until(() => sent.length === 10, "10 commands sent", 3_000, POLL_MS);
  // Tokens of one second only: no eleventh command until time passes.
  await sleep(20);
  assert.equal(sent.length, 10);
  now = 2000;
  await until(() => sent.length === 12, "12 commands sent", 3_000, POLL_MS);
  dispatcher.stop();
});

Deno.test("a retry pays for its send: the next new command waits for the rate", async () => {
  let now = 0;
  const { dispatcher, sent } = harness({
    maxParallel: 10,
    retries: 1,
    ratePerSecond: 1,
    now: () => now,
  });
  dispatcher.enqueue([secondsIntervalCommand(A, 60, oprid(1))]);
  await until(() => sent.length === 2, "2 commands sent", 1_000, POLL_MS); // the timed-out first attempt is repeated
  now = 1000;
  dispatcher.enqueue([secondsIntervalCommand(B, 60, oprid(2))]);
  await sleep(30);
  assert.equal(sent.filter((c) => c.id === B).length, 0, "the retry used this second's token");
  now = 2000;
  await until(() => sent.some((c) => c.id === B), "a command to B", 3_000, POLL_MS);
  dispatcher.stop();
});

Deno.test("a queued command whose deadline passes is never sent and ends as not sent", async () => {
  const { dispatcher, sent, results } = harness({ ackTimeoutMs: 40, retries: 0, maxParallel: 1 });
  const first = secondsIntervalCommand(A, 60, oprid(1));
  const relay = { ...relayCommand(A, true, oprid(2)), request: "r1" };
  dispatcher.enqueue([first]);
  dispatcher.enqueue([relay], Date.now() + 60);
  await until(() => results.length === 2, "two results", 3_000, POLL_MS);
  assert.deepEqual(results.find((r) => r.command === relay)?.result, {
    ok: false,
    attempts: 0,
    outcome: "not_sent",
    reason: "not sent: too little time left for an acknowledgement",
  });
  // Past the relay's deadline: it is never sent late.
  await sleep(100);
  assert.deepEqual(sent, [first], "the relay never went out");
  dispatcher.stop();
});

Deno.test("a command left queued past its deadline ends at the deadline, while the meter is busy", async () => {
  const { dispatcher, sent, results } = harness({ ackTimeoutMs: 200, retries: 1 });
  const first = secondsIntervalCommand(A, 60, oprid(1));
  const relay = { ...relayCommand(A, true, oprid(2)), request: "r1" };
  dispatcher.enqueue([first]);
  const deadline = Date.now() + 250;
  dispatcher.enqueue([relay], deadline);
  await until(() => results.length === 1, "one result", 3_000, POLL_MS);
  assert.equal(results[0]?.command, relay);
  assert.ok(Date.now() >= deadline, "not before its deadline");
  assert.deepEqual(results[0]?.result, {
    ok: false,
    attempts: 0,
    outcome: "not_sent",
    reason: "not sent: earlier commands to the meter took the time",
  });
  assert.equal(dispatcher.queuedCommands, 0);
  dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(first));
  // A freed slot would have let a queued command out by now.
  await sleep(50);
  assert.ok(sent.every((c) => c.oprid === oprid(1)), "only the first command went out");
  dispatcher.stop();
});

Deno.test("a command is not sent again once a whole acknowledgement timeout no longer fits before its deadline", async () => {
  const { dispatcher, sent, results } = harness({ ackTimeoutMs: 30, retries: 5, retryDelayMs: 5 });
  const relay = { ...relayCommand(A, false, oprid(3)), request: "r1" };
  dispatcher.enqueue([relay], Date.now() + 80);
  await until(() => results.length === 1, "one result", 3_000, POLL_MS);
  assert.ok(sent.length >= 1 && sent.length <= 2, `sent ${sent.length} times`);
  assert.deepEqual(results[0]?.result, {
    ok: false,
    attempts: sent.length,
    outcome: "unanswered",
    reason: `no acknowledgement in time after ${
      sent.length === 1 ? "1 attempt" : `${sent.length} attempts`
    }`,
  });
  // A late reply settles nothing, and nothing is sent any more.
  assert.equal(dispatcher.handleReply("MQTT_TELECTRL_REP", reply(relay)), false);
  const count = sent.length;
  await sleep(150);
  assert.equal(sent.length, count);
  dispatcher.stop();
});

Deno.test("meters take turns: one meter's backlog does not hold up another meter's command", () => {
  const { dispatcher, sent } = harness({ maxParallel: 1 });
  const first = secondsIntervalCommand(A, 60, oprid(1));
  const backlog = [2, 3, 4].map((n) => secondsIntervalCommand(A, 60, oprid(n)));
  dispatcher.enqueue([first]);
  dispatcher.enqueue(backlog.map((c, i) => ({ ...c, request: `r${i}` })));
  const other = { ...relayCommand(B, true, oprid(9)), request: "b" };
  dispatcher.enqueue([other]);
  assert.deepEqual(sent.map((c) => c.oprid), [oprid(1)]);
  dispatcher.handleReply("MQTT_COMMOD_SET_REP", reply(first));
  assert.deepEqual(sent.map((c) => c.oprid), [oprid(1), oprid(9)], "the other meter goes next");
  dispatcher.handleReply("MQTT_TELECTRL_REP", reply(other));
  assert.deepEqual(sent.map((c) => c.oprid), [oprid(1), oprid(9), oprid(2)]);
  dispatcher.stop();
});
