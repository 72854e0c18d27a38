import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import type { OutboxProblem } from "../../src/outbox/outbox_problem.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";
import type { RelayState } from "../../src/protocol/meter_status.ts";
import { RequestHandler } from "../../src/proxy/request_handler.ts";
import { outboxProblem } from "../helpers/bridge_snapshot_fixture.ts";
import type { BridgeEvent } from "../../src/worker/messages.ts";

const A = MeterId.parse("33B1225950027");
const B = MeterId.parse("33B1225950028");
const bytes = (text: string) => new TextEncoder().encode(text);

function setUp(yaml = "meters:\n  relay_control: [33B1225950027]\n") {
  const config = parseConfig(yaml, "config.yaml", () => undefined);
  const emitted: BridgeEvent[] = [];
  const published: Array<{ topic: string; payload: unknown }> = [];
  const relays: Array<[MeterId, RelayState]> = [];
  const resets: MeterId[] = [];
  const outbox: { problem: OutboxProblem | undefined } = { problem: undefined };
  const handler = new RequestHandler({
    config: () => config,
    known: (id) => id === A || id === B,
    health: () => ({ healthy: true }),
    emit: (event) => emitted.push(event),
    publish: ({ topic, payload }) => {
      published.push({ topic, payload: JSON.parse(payload) });
    },
    relaySwitched: (id, state) => relays.push([id, state]),
    resetHistory: (id) => {
      resets.push(id);
      return { id, forgotten: id === A };
    },
    acknowledgeOutboxProblem: () => {
      const { problem } = outbox;
      outbox.problem = undefined;
      return problem;
    },
    outcome: () => {},
  });
  return { handler, emitted, published, relays, resets, outbox };
}

Deno.test("health is answered at once, echoing the transaction", () => {
  const env = setUp();
  env.handler.onRequest("kpm33b/bridge/request/health", bytes('{"transaction":"h1"}'));
  assert.deepEqual(env.published, [{
    topic: "kpm33b/bridge/response/health",
    payload: { status: "ok", data: { healthy: true }, transaction: "h1" },
  }]);
});

Deno.test("meter/reset_history clears the meter's history at once; any valid id, no other worker", () => {
  const env = setUp();
  env.handler.onRequest(
    "kpm33b/bridge/request/meter/reset_history",
    bytes(`{"id":"${A}","transaction":"r1"}`),
  );
  env.handler.onRequest(
    "kpm33b/bridge/request/meter/reset_history",
    bytes('{"id":"33B1225950099"}'),
  );
  env.handler.onRequest("kpm33b/bridge/request/meter/reset_history", bytes('{"id":"33b12"}'));
  assert.deepEqual(env.resets, [A, "33B1225950099"]);
  assert.deepEqual(env.emitted, []);
  const refusal = env.published[2]?.payload as { error: string } | undefined;
  assert.deepEqual(env.published.map((p) => p.payload), [
    { status: "ok", data: { id: A, forgotten: true }, transaction: "r1" },
    { status: "ok", data: { id: "33B1225950099", forgotten: false } },
    {
      status: "error",
      data: {},
      error: refusal?.error,
    },
  ]);
  assert.match(refusal?.error ?? "", /^id: /);
});

/** The id of the first emitted request: unique to its handler, so replicas never mix them up. */
function requestId(emitted: readonly BridgeEvent[]): string {
  const event = emitted[0] as { request?: unknown };
  assert.equal(typeof event.request, "string");
  assert.match(event.request as string, /^[0-9a-f]{8}-r1$/);
  return event.request as string;
}

/** The expiry of the first emitted command request: when its answer is due, by default 120 s on. */
function expiresAt(emitted: readonly BridgeEvent[]): number {
  const event = emitted[0] as { expires_at?: unknown };
  assert.equal(typeof event.expires_at, "number");
  const inMs = (event.expires_at as number) - Date.now();
  assert.ok(inMs > 110_000 && inMs <= 120_000, `expires in ${inMs} ms`);
  return event.expires_at as number;
}

Deno.test("two handlers (two replicas) never give the same request id", () => {
  const [one, two] = [setUp(), setUp()];
  for (const env of [one, two]) {
    env.handler.onRequest("kpm33b/bridge/request/config/reload", bytes(""));
  }
  assert.notEqual(requestId(one.emitted), requestId(two.emitted));
});

Deno.test("a meter request goes to the config sender and its result is the response", () => {
  const env = setUp();
  env.handler.onRequest(
    "kpm33b/bridge/request/meter/read_interval",
    bytes(`{"id":"${A}","transaction":3}`),
  );
  const request = requestId(env.emitted);
  assert.deepEqual(env.emitted, [{
    type: "command_request",
    request,
    command: { action: "read_interval", id: A },
    expires_at: expiresAt(env.emitted),
  }]);
  assert.equal(env.handler.waiting, 1);
  env.handler.onEvent({
    type: "command_result",
    request,
    result: { ok: true, data: { id: A, seconds: 60, minutes: 1 } },
  });
  assert.deepEqual(env.published, [{
    topic: "kpm33b/bridge/response/meter/read_interval",
    payload: { status: "ok", data: { id: A, seconds: 60, minutes: 1 }, transaction: 3 },
  }]);
  assert.equal(env.handler.waiting, 0);
  // A second result for the same request is ignored.
  env.handler.onEvent({ type: "command_result", request, result: { ok: false, error: "x" } });
  assert.equal(env.published.length, 1);
});

Deno.test("config/reload goes to the supervisor; a failed reload is an error response", () => {
  const env = setUp();
  env.handler.onRequest("kpm33b/bridge/request/config/reload", bytes(""));
  const request = requestId(env.emitted);
  assert.deepEqual(env.emitted, [{ type: "reload_request", request }]);
  env.handler.onEvent({
    type: "reload_result",
    request,
    result: { ok: false, error: "bad" },
  });
  assert.deepEqual(env.published[0]?.payload, { status: "error", data: {}, error: "bad" });
});

Deno.test("unknown and excluded meters are refused without a command", () => {
  const env = setUp("meters:\n  exclude: [33B1225950028]\n");
  env.handler.onRequest("kpm33b/bridge/request/meter/sync_time", bytes('{"id":"33B1225950099"}'));
  env.handler.onRequest("kpm33b/bridge/request/meter/sync_time", bytes(`{"id":"${B}"}`));
  assert.deepEqual(env.emitted, []);
  assert.deepEqual(env.published.map((p) => (p.payload as { error: string }).error), [
    "meter 33B1225950099 is not known to this bridge",
    "meter 33B1225950028 is excluded (meters.exclude)",
  ]);
});

Deno.test("relay: ON/OFF for allowed meters only; the acknowledged state is reported", () => {
  const env = setUp();
  env.handler.onRelaySet(`kpm33b/${B}/relay/set`, bytes("ON"));
  assert.deepEqual(env.published.at(-1), {
    topic: `kpm33b/${B}/relay/result`,
    payload: {
      status: "error",
      data: {},
      error: `relay control of ${B} is off: add it to meters.relay_control in config.yaml`,
    },
  });
  env.handler.onRelaySet(`kpm33b/${A}/relay/set`, bytes("toggle"));
  assert.equal((env.published.at(-1)!.payload as { error: string }).error, 'send "ON" or "OFF"');
  assert.deepEqual(env.emitted, []);

  env.handler.onRelaySet(`kpm33b/${A}/relay/set`, bytes(" on\n"));
  const request = requestId(env.emitted);
  assert.deepEqual(env.emitted, [{
    type: "command_request",
    request,
    command: { action: "relay", id: A, on: true },
    expires_at: expiresAt(env.emitted),
  }]);
  env.handler.onEvent({
    type: "command_result",
    request,
    result: { ok: true, data: { id: A, state: "ON" } },
  });
  assert.deepEqual(env.relays, [[A, "ON"]]);
  assert.deepEqual(env.published.at(-1), {
    topic: `kpm33b/${A}/relay/result`,
    payload: { status: "ok", data: { id: A, state: "ON" } },
  });
});

Deno.test("a meter with 5 requests in progress gets no more; other meters still do", () => {
  const env = setUp("meters:\n  relay_control: [33B1225950027, 33B1225950028]\n");
  for (let i = 0; i < 1000; i++) {
    env.handler.onRequest("kpm33b/bridge/request/meter/sync_time", bytes(`{"id":"${A}"}`));
  }
  assert.equal(env.emitted.length, 5, "5 go to the configuration flow");
  assert.equal(env.published.length, 995);
  assert.deepEqual(env.published[0]?.payload, {
    status: "error",
    data: {},
    error: `5 requests for meter ${A} are in progress; try again once they are answered`,
  });
  env.handler.onRelaySet(`kpm33b/${B}/relay/set`, bytes("ON"));
  assert.deepEqual(
    (env.emitted.at(-1) as { command: unknown }).command,
    { action: "relay", id: B, on: true },
    "another meter's request goes through",
  );
  // One answered: the meter takes a request again.
  const first = env.emitted[0] as { request: string };
  env.handler.onEvent({
    type: "command_result",
    request: first.request,
    result: { ok: true, data: {} },
  });
  env.handler.onRequest("kpm33b/bridge/request/meter/sync_time", bytes(`{"id":"${A}"}`));
  assert.equal(env.emitted.length, 7);
  assert.equal(env.handler.waiting, 6);
});

Deno.test("stopping answers every waiting request with an error", () => {
  const env = setUp();
  env.handler.onRequest("kpm33b/bridge/request/meter/sync_time", bytes(`{"id":"${A}"}`));
  env.handler.close();
  assert.deepEqual(env.published[0]?.payload, {
    status: "error",
    data: {},
    error: "the bridge is stopping",
  });
  assert.equal(env.handler.waiting, 0);
});

Deno.test("outbox/acknowledge clears the outbox problem at once and answers with it; again, with null", () => {
  const env = setUp();
  env.outbox.problem = outboxProblem(new Date("2025-03-01T12:00:00.000Z"));
  const problem = env.outbox.problem;
  env.handler.onRequest("kpm33b/bridge/request/outbox/acknowledge", bytes('{"transaction":"a1"}'));
  env.handler.onRequest("kpm33b/bridge/request/outbox/acknowledge", bytes(""));
  assert.equal(env.outbox.problem, undefined);
  assert.deepEqual(env.emitted, [], "nothing for another worker to do");
  assert.deepEqual(env.published, [
    {
      topic: "kpm33b/bridge/response/outbox/acknowledge",
      payload: { status: "ok", data: { acknowledged: problem }, transaction: "a1" },
    },
    {
      topic: "kpm33b/bridge/response/outbox/acknowledge",
      payload: { status: "ok", data: { acknowledged: null } },
    },
  ]);
});
