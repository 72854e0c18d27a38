import assert from "node:assert/strict";
import type { OutboxProblem } from "../../src/outbox/outbox_problem.ts";
import { ACK_LATENCY_BUCKETS } from "../../src/status/bridge_snapshot.ts";
import { ProxySnapshot } from "../../src/proxy/proxy_snapshot.ts";
import { ProxyStats } from "../../src/proxy/proxy_stats.ts";
import { meterStatus, outboxProblem } from "../helpers/bridge_snapshot_fixture.ts";

const T0 = Date.UTC(2026, 11, 3, 12);

function setUp() {
  const stats = new ProxyStats();
  const state = {
    now: T0 + 90_000,
    brokers: { internal: true, central: true },
    problem: undefined as OutboxProblem | undefined,
  };
  const snapshot = new ProxySnapshot({
    version: "1.2.3",
    startedAt: T0,
    brokers: () => state.brokers,
    counts: () => stats.snapshot(),
    outbox: () => ({
      status: { entries: 3, bytes: 300, dropped: 1, oldest: T0, inFlight: 0 } as never,
      durable: true,
      problem: state.problem,
    }),
    meterCounts: () => ({ known: 2, online: 1 }),
    statuses: () => [meterStatus()],
  }, () => state.now);
  return { stats, state, snapshot };
}

Deno.test("a snapshot reports the sources at the clock's time", () => {
  const env = setUp();
  env.stats.received("MQTT_RT_DATA");
  env.snapshot.ackLatency(0.3);
  env.snapshot.ackLatency(100);
  const taken = env.snapshot.take();
  assert.equal(taken.version, "1.2.3");
  assert.equal(taken.started_at, new Date(T0).toISOString());
  assert.equal(taken.taken_at, new Date(T0 + 90_000).toISOString());
  assert.deepEqual(taken.brokers, { internal: true, central: true });
  assert.deepEqual(taken.counters.received, { MQTT_RT_DATA: 1 });
  assert.deepEqual(taken.outbox, {
    depth: 3,
    bytes: 300,
    dropped: 1,
    durable: true,
    problem: null,
  });
  assert.deepEqual(taken.meter_counts, { known: 2, online: 1 });
  assert.equal(taken.meters.length, 1);
  const counts = ACK_LATENCY_BUCKETS.map(() => 0).concat(0);
  counts[ACK_LATENCY_BUCKETS.indexOf(0.5)] = 1;
  counts[ACK_LATENCY_BUCKETS.length] = 1;
  assert.deepEqual(taken.ack_latency, {
    buckets: ACK_LATENCY_BUCKETS,
    counts,
    sum: 100.3,
    count: 2,
  });
});

Deno.test("health is healthy only with both brokers, no outbox problem, every worker running", () => {
  const env = setUp();
  assert.deepEqual(env.snapshot.health(), {
    healthy: true,
    brokers: { internal: true, central: true },
    workers: {},
    uptime_seconds: 90,
    meters: 2,
    meters_online: 1,
    outbox_depth: 3,
    outbox_problem: null,
  });
  env.snapshot.workers({ http: "restarting" });
  assert.equal(env.snapshot.health().healthy, false);
  env.snapshot.workers({ http: "running" });
  assert.equal(env.snapshot.health().healthy, true);
  env.state.problem = outboxProblem(new Date(T0));
  assert.equal(env.snapshot.health().healthy, false);
  env.state.problem = undefined;
  env.state.brokers = { internal: false, central: true };
  assert.equal(env.snapshot.health().healthy, false);
});

Deno.test("the HTTP worker counts as just started only when it becomes running", () => {
  const env = setUp();
  assert.equal(env.snapshot.workers({ http: "starting" }), false);
  assert.equal(env.snapshot.workers({ http: "running" }), true);
  assert.equal(env.snapshot.workers({ http: "running", proxy: "running" }), false);
  assert.equal(env.snapshot.workers({ http: "restarting" }), false);
  assert.equal(env.snapshot.workers({ http: "running" }), true);
});
