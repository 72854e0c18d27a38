import assert from "node:assert/strict";
import { MeterId } from "../../src/protocol/meter_id.ts";
import type { MeterStatus } from "../../src/protocol/meter_status.ts";
import type { OutboxProblem } from "../../src/outbox/outbox_problem.ts";
import { BridgeStatus } from "../../src/proxy/bridge_status.ts";
import { meterStatus, outboxProblem } from "../helpers/bridge_snapshot_fixture.ts";
import { fakeCentral, fakeLog } from "../helpers/fake_central.ts";

const A = MeterId.parse("33B1225950027");
const B = MeterId.parse("33B1225950028");
const T0 = Date.UTC(2026, 11, 3, 12);

function setUp() {
  const central = fakeCentral();
  const { log, lines } = fakeLog();
  const state = {
    now: T0,
    flowing: false,
    stopping: false,
    changes: [] as MeterId[],
    statuses: [] as MeterStatus[],
    snapshots: 0,
    outbox: { entries: 0, bytes: 0, dropped: 0, oldest: undefined as number | undefined },
    problem: undefined as OutboxProblem | undefined,
  };
  const status = new BridgeStatus(
    central,
    {
      bridge: () => ({ root: "kpm33b" }),
      root: () => "kpm33b",
      statusIntervalSeconds: () => 10,
      ready: () => state.flowing,
      stopping: () => state.stopping,
      outbox: () => ({
        status: { ...state.outbox, inFlight: 0 } as never,
        durable: true,
        problem: state.problem,
      }),
      takeChanged: () => state.changes.splice(0),
      status: (id) => meterStatus({ id }),
      statuses: () => state.statuses,
      info: (now) => ({ uptime: now - T0 }) as never,
      stateChanging: () => state.snapshots++,
    },
    () => state.now,
    log,
  );
  return { central, lines, state, status };
}

const topics = (env: ReturnType<typeof setUp>) => env.central.published.map((p) => p.topic);
/** The payload of publication `i`, parsed; the test fails when there is none. */
function payloadAt(env: ReturnType<typeof setUp>, i: number) {
  const publication = env.central.published[i];
  assert.ok(publication !== undefined, `publication ${i} was sent`);
  return JSON.parse(publication.payload);
}

Deno.test("the state is published retained on change only, online once readings flow", () => {
  const env = setUp();
  env.status.updateState();
  env.status.updateState();
  env.state.flowing = true;
  env.status.updateState();
  assert.deepEqual(
    env.central.published.map((p) => [p.topic, p.payload, p.options]),
    [
      ["kpm33b/bridge/state", "offline", { qos: 1, retain: true }],
      ["kpm33b/bridge/state", "online", { qos: 1, retain: true }],
    ],
  );
  assert.equal(env.state.snapshots, 2);
  assert.deepEqual(env.lines, [
    ["info", "Bridge state {state}", { state: "offline" }],
    ["info", "Bridge state {state}", { state: "online" }],
  ]);
  // After a reconnect the state is published again.
  env.status.disconnected();
  env.status.updateState();
  assert.equal(env.central.published.length, 3);
});

Deno.test("nothing is published while disconnected or stopping; a failed state is logged", () => {
  const env = setUp();
  env.central.up = false;
  env.status.updateState();
  env.status.publishOutbox();
  env.status.publishStatuses();
  env.status.publishInfo();
  assert.deepEqual(env.central.published, []);
  env.central.up = true;
  env.state.stopping = true;
  env.status.updateState();
  assert.deepEqual(env.central.published, []);
  env.state.stopping = false;
  env.central.failWith = new Error("no");
  env.status.updateState();
  assert.deepEqual(env.lines, [[
    "warn",
    "Publishing bridge state failed: {error}",
    { error: "no" },
  ]]);
});

Deno.test("the outbox status is published when it changed, again after a reconnect", () => {
  const env = setUp();
  env.status.publishOutbox();
  env.status.publishOutbox();
  env.state.outbox = { entries: 2, bytes: 20, dropped: 1, oldest: T0 };
  env.state.problem = outboxProblem(new Date(T0));
  env.status.publishOutbox();
  env.status.disconnected();
  env.status.publishOutbox();
  assert.deepEqual(topics(env), Array(3).fill("kpm33b/bridge/outbox"));
  assert.deepEqual(env.central.published[0]?.options, { qos: 1, retain: true });
  assert.deepEqual(payloadAt(env, 0), {
    depth: 0,
    bytes: 0,
    dropped: 0,
    oldest: null,
    durable: true,
    problem: null,
  });
  const second = payloadAt(env, 1);
  assert.equal(second.oldest, new Date(T0).toISOString());
  assert.equal(second.problem.kind, env.state.problem.kind);
});

Deno.test("statuses: the meter list when it changed, info always, changed statuses paced", () => {
  const env = setUp();
  env.state.statuses = [meterStatus({ id: A })];
  env.state.changes = [A, B];
  env.state.now = T0 + 5000;
  env.status.publishStatuses();
  env.status.publishStatuses();
  assert.deepEqual(topics(env), [
    "kpm33b/bridge/meters",
    "kpm33b/bridge/info",
    "kpm33b/bridge/info",
  ]);
  assert.deepEqual(env.central.published[0]?.options, { qos: 1, retain: true });
  assert.deepEqual(payloadAt(env, 1), { uptime: 5000 });
  env.status.drain(T0 + 10_000);
  assert.deepEqual(topics(env).slice(3), [`kpm33b/${A}/status`, `kpm33b/${B}/status`]);
  assert.deepEqual(env.central.published[3]?.options, { qos: 1, retain: true });
  // A new connection gets the list again.
  env.status.connected();
  env.status.publishStatuses();
  assert.deepEqual(topics(env).slice(5), ["kpm33b/bridge/meters", "kpm33b/bridge/info"]);
});

Deno.test("offline at stop is published retained and awaited", async () => {
  const env = setUp();
  await env.status.publishOffline(1000);
  assert.deepEqual(env.central.published.map((p) => [p.topic, p.payload, p.options]), [
    ["kpm33b/bridge/state", "offline", { qos: 1, retain: true }],
  ]);
  env.central.up = false;
  await env.status.publishOffline(1000);
  assert.equal(env.central.published.length, 1);
});
