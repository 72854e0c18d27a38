/**
 * Request jobs against a fake port: a fake clock, counted oprids, commands
 * collected instead of sent, answers collected instead of emitted.
 */
import assert from "node:assert/strict";
import type { MeterCommandRequest } from "../../src/protocol/bridge_api.ts";
import { MAX_REQUESTS_PER_METER, requestTimeoutMs } from "../../src/protocol/bridge_api.ts";
import type { MeterCommand } from "../../src/protocol/commands.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";
import type { RequestResult } from "../../src/worker/messages.ts";
import type { CommandResult } from "../../src/config_sender/command_dispatcher.ts";
import { RequestJobs, type RequestJobsPort } from "../../src/config_sender/request_jobs.ts";
import { captureLogs } from "../helpers/log_capture.ts";

const A = MeterId.parse("33B1225950027");
const B = MeterId.parse("33B1225950028");
const T0 = Date.UTC(2026, 5, 1, 10, 0);
const TIMEOUT_MS = requestTimeoutMs(1, 2);

function harness(options: { refusal?: string; maxRequests?: number } = {}) {
  let time = T0;
  let oprids = 0;
  const enqueued: { commands: readonly MeterCommand[]; deadline: number }[] = [];
  const answers: { request: string; result: RequestResult }[] = [];
  const port: RequestJobsPort = {
    now: () => time,
    newOprid: () => (++oprids).toString(16).padStart(32, "0"),
    meterTime: (at) => `T${at}`,
    refusal: () => options.refusal,
    timeoutMs: () => TIMEOUT_MS,
    enqueue: (commands, deadline) => enqueued.push({ commands, deadline }),
    answer: (request, result) => answers.push({ request, result }),
  };
  const jobs = new RequestJobs(port, options.maxRequests);
  return {
    jobs,
    enqueued,
    answers,
    advance: (ms: number) => time += ms,
    /** The commands enqueued so far, flattened. */
    commands: () => enqueued.flatMap((e) => e.commands),
    /** The `i`th command enqueued so far; the test fails when there is none. */
    command(i: number): MeterCommand {
      const command = enqueued.flatMap((e) => e.commands)[i];
      assert.ok(command !== undefined, `command ${i} was enqueued`);
      return command;
    },
  };
}

const ok = (reply: Record<string, unknown> = {}): CommandResult => ({
  ok: true,
  attempts: 1,
  reply: { id: A, oprid: "x", code: "01", ...reply },
  latencyMs: 12,
});
const unanswered: CommandResult = {
  ok: false,
  attempts: 3,
  outcome: "unanswered",
  reason: "no acknowledgement after 3 attempts",
};
const notSent: CommandResult = {
  ok: false,
  attempts: 0,
  outcome: "not_sent",
  reason: "not sent: too little time left for an acknowledgement",
};

Deno.test("each action becomes its commands, tagged with the request, due by the request timeout", () => {
  const h = harness();
  const requests: MeterCommandRequest[] = [
    { action: "sync_time", id: A },
    { action: "read_interval", id: A },
    { action: "set_interval", id: A, seconds: 60, minutes: 5 },
    { action: "relay", id: A, on: true },
    { action: "set_interval", id: B, minutes: 15 },
  ];
  requests.forEach((command, i) => h.jobs.open(`r${i}`, command));
  assert.deepEqual(
    h.enqueued.map((e) => e.commands.map((c) => [c.request, c.kind])),
    [
      [["r0", "clock"]],
      [["r1", "read_interval_seconds"], ["r1", "read_interval_minutes"]],
      [["r2", "interval_seconds"], ["r2", "interval_minutes"]],
      [["r3", "relay"]],
      [["r4", "interval_minutes"]],
    ],
  );
  assert.equal(JSON.parse(h.command(0).payload).time, `T${T0}`);
  assert.deepEqual(new Set(h.commands().map((c) => c.oprid)).size, 7, "a fresh oprid each");
  assert.ok(h.enqueued.every((e) => e.deadline === T0 + TIMEOUT_MS));
  assert.equal(h.jobs.size, 5);
  assert.deepEqual(h.answers, []);
});

Deno.test("the requester's earlier deadline wins over the request timeout", () => {
  const h = harness();
  h.jobs.open("r1", { action: "relay", id: A, on: true }, T0 + 5_000);
  h.jobs.open("r2", { action: "relay", id: B, on: true }, T0 + TIMEOUT_MS + 5_000);
  assert.deepEqual(h.enqueued.map((e) => e.deadline), [T0 + 5_000, T0 + TIMEOUT_MS]);
});

Deno.test("a request is answered once all its commands settled, with their data", () => {
  const h = harness();
  h.jobs.open("r1", { action: "read_interval", id: A });
  const [seconds, minutes] = [h.command(0), h.command(1)];
  h.jobs.settle(seconds, ok({ Cmd: "0000", value: "60" }));
  assert.equal(h.answers.length, 0, "one command still open");
  h.jobs.settle(minutes, ok({ Cmd: "0001", value: "5" }));
  assert.deepEqual(h.answers, [
    { request: "r1", result: { ok: true, data: { id: A, seconds: 60, minutes: 5 } } },
  ]);
  assert.equal(h.jobs.size, 0);
});

Deno.test("a relay answer reports the meter's state, or the one asked for when the reply has none", () => {
  const h = harness();
  h.jobs.open("on", { action: "relay", id: A, on: true });
  h.jobs.settle(h.command(0), ok({ do1: "0" }));
  h.jobs.open("off", { action: "relay", id: A, on: false });
  h.jobs.settle(h.command(1), ok());
  assert.deepEqual(h.answers.map((a) => a.result), [
    { ok: true, data: { id: A, state: "OFF" } },
    { ok: true, data: { id: A, state: "OFF" } },
  ]);
});

Deno.test("failures are joined; an unanswered command says what it may have done", () => {
  const h = harness();
  h.jobs.open("r1", { action: "set_interval", id: A, seconds: 60, minutes: 5 });
  const [seconds, minutes] = [h.command(0), h.command(1)];
  h.jobs.settle(seconds, unanswered);
  h.jobs.settle(minutes, notSent);
  assert.deepEqual(h.answers, [{
    request: "r1",
    result: {
      ok: false,
      error: "seconds interval 60 s: no acknowledgement after 3 attempts; sent, not " +
        "acknowledged: the meter may have applied it; minutes interval 5 min: not sent: too " +
        "little time left for an acknowledgement",
    },
  }]);
});

Deno.test("identical requests in a row share one job and one result", async () => {
  await using logs = await captureLogs();
  const h = harness();
  const relay: MeterCommandRequest = { action: "relay", id: A, on: true };
  h.jobs.open("r1", relay);
  h.jobs.open("r2", { on: true, id: A, action: "relay" });
  assert.equal(h.enqueued.length, 1, "one command for both");
  assert.equal(h.jobs.size, 1);
  assert.ok(
    logs.lines.some((l) => l.message === "Request r2: relay for 33B1225950027, answered with r1"),
  );
  h.jobs.settle(h.command(0), ok({ do1: "1" }));
  const result = { ok: true, data: { id: A, state: "ON" } };
  assert.deepEqual(h.answers, [{ request: "r1", result }, { request: "r2", result }]);
});

Deno.test("only the latest request is joined: a different one in between starts a new job", () => {
  const h = harness();
  h.jobs.open("on1", { action: "relay", id: A, on: true });
  h.jobs.open("off", { action: "relay", id: A, on: false });
  h.jobs.open("on2", { action: "relay", id: A, on: true });
  assert.equal(h.enqueued.length, 3);
  assert.equal(h.jobs.size, 3);
});

Deno.test("a result settles only the request its command carries", () => {
  const h = harness();
  h.jobs.open("r1", { action: "sync_time", id: A });
  h.jobs.open("r2", { action: "relay", id: A, on: true });
  const clock = h.command(0);
  h.jobs.settle({ ...clock, request: undefined }, ok());
  assert.equal(h.answers.length, 0, "a configuration-flow clock set answers no request");
  h.jobs.settle(clock, ok());
  assert.deepEqual(h.answers.map((a) => a.request), ["r1"]);
  assert.equal(h.jobs.size, 1);
});

Deno.test("a meter takes at most MAX_REQUESTS_PER_METER different requests; other meters still", () => {
  const h = harness();
  for (let i = 0; i < MAX_REQUESTS_PER_METER; i++) {
    h.jobs.open(`r${i}`, { action: "set_interval", id: A, seconds: 60, minutes: i + 1 });
  }
  h.jobs.open("over", { action: "sync_time", id: A });
  h.jobs.open("other", { action: "sync_time", id: B });
  assert.deepEqual(h.answers, [{
    request: "over",
    result: {
      ok: false,
      error: `${MAX_REQUESTS_PER_METER} requests for meter ${A} are in progress; ` +
        "try again once they are answered",
    },
  }]);
  assert.equal(h.enqueued.length, MAX_REQUESTS_PER_METER + 1);
});

Deno.test("the flow takes at most maxRequests requests; a settled one frees a place", () => {
  const h = harness({ maxRequests: 1 });
  h.jobs.open("r1", { action: "sync_time", id: A });
  h.jobs.open("r2", { action: "sync_time", id: B });
  assert.deepEqual(h.answers, [{
    request: "r2",
    result: { ok: false, error: "1 requests are in progress; try again later" },
  }]);
  h.jobs.settle(h.command(0), ok());
  h.jobs.open("r3", { action: "sync_time", id: B });
  assert.equal(h.enqueued.length, 2);
});

Deno.test("the configuration's refusal answers at once and sends nothing", () => {
  const h = harness({ refusal: "meter 33B1225950027 is not in meters.relay_control" });
  h.jobs.open("r1", { action: "relay", id: A, on: true });
  assert.deepEqual(h.enqueued, []);
  assert.equal(h.jobs.size, 0);
  assert.deepEqual(h.answers, [{
    request: "r1",
    result: { ok: false, error: "meter 33B1225950027 is not in meters.relay_control" },
  }]);
});

Deno.test("stopping answers every open request: sent ones say they may have taken effect", () => {
  const h = harness();
  h.jobs.open("relay", { action: "relay", id: A, on: true });
  h.jobs.open("same", { action: "relay", id: A, on: true });
  h.jobs.open("interval", { action: "set_interval", id: B, seconds: 60 });
  h.jobs.open("queued", { action: "sync_time", id: B });
  const [relay, interval] = [h.command(0), h.command(1)];
  h.jobs.sent(relay);
  h.jobs.sent(interval);
  h.jobs.stop();
  assert.deepEqual(h.answers.map(({ request, result }) => [request, result]), [
    ["relay", {
      ok: false,
      error: "the bridge is stopping; sent, not acknowledged: the relay may have switched",
    }],
    ["same", {
      ok: false,
      error: "the bridge is stopping; sent, not acknowledged: the relay may have switched",
    }],
    ["interval", {
      ok: false,
      error: "the bridge is stopping; sent, not acknowledged: the meter may have applied it",
    }],
    ["queued", { ok: false, error: "the bridge is stopping; not sent" }],
  ]);
  assert.equal(h.jobs.size, 0);
  h.jobs.settle(relay, ok());
  assert.equal(h.answers.length, 4, "nothing is answered twice");
});
