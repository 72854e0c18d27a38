import assert from "node:assert/strict";
import { Config } from "../../src/config/schema.ts";
import { Supervisor, type WorkerEvent } from "../../src/supervisor/supervisor.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";
import { NOTHING } from "../helpers/permissions.ts";
import { until } from "../helpers/wait.ts";

const METER = MeterId.parse("33B1225950027");

const config = Config.parse({ logging: { level: "fatal" } });

/** Waits for `predicate`; a time-out names `what` and the events seen so far. */
/**
 * Waits for worker events. Starting a worker loads and compiles its modules, which takes seconds
 * when the unit tier runs files in parallel on a busy machine; the deadline only ends a hang.
 */
function untilEvents(events: WorkerEvent[], predicate: () => boolean, what: string) {
  return until(predicate, () => `${what}: ${JSON.stringify(events)}`, 60_000, 10);
}

Deno.test("a crashed worker is restarted with backoff and the reason is reported", async () => {
  const events: WorkerEvent[] = [];
  const supervisor = new Supervisor(
    [{
      name: "crashing",
      url: new URL("../helpers/crashing_worker.ts", import.meta.url),
      permissions: NOTHING,
    }],
    config,
    { restartInitialMs: 100, restartMaxMs: 400, onWorkerEvent: (e) => events.push(e) },
  );
  supervisor.start();
  try {
    await untilEvents(
      events,
      () => events.filter((e) => e.type === "crashed").length >= 3,
      "3 crashes",
    );
  } finally {
    await supervisor.stop(1000);
  }
  const crashes = events.filter((e) => e.type === "crashed");
  assert.ok(crashes.every((e) => e.reason.includes("simulated crash")), JSON.stringify(crashes));
  const [first = NaN, second = NaN, third = NaN] = crashes.map((e) => e.restartInMs);
  // Equal jitter: each delay lies in the upper half of its doubling step, capped at 400 ms.
  assert.ok(first >= 50 && first <= 100, `first delay ${first}`);
  assert.ok(second >= 100 && second <= 200, `second delay ${second}`);
  assert.ok(third >= 200 && third <= 400, `third delay ${third}`);
  assert.ok(events.filter((e) => e.type === "started").length >= 3, "restarted each time");
});

Deno.test("stop asks each worker to stop and waits for it", async () => {
  const events: WorkerEvent[] = [];
  const supervisor = new Supervisor(
    ["a", "b"].map((name) => ({
      name,
      url: new URL("../helpers/steady_worker.ts", import.meta.url),
      permissions: NOTHING,
    })),
    config,
    { onWorkerEvent: (e) => events.push(e) },
  );
  supervisor.start();
  await untilEvents(
    events,
    () => events.filter((e) => e.type === "started").length === 2,
    "starts",
  );
  await supervisor.stop(2000);
  assert.deepEqual(
    events.filter((e) => e.type === "stopped").map((e) => e.name).sort(),
    ["a", "b"],
  );
  assert.equal(events.filter((e) => e.type === "crashed").length, 0);
});

Deno.test("events reach only the workers they are for; worker states go to all", async () => {
  const events: WorkerEvent[] = [];
  const echoed: string[] = [];
  const supervisor = new Supervisor(
    ["proxy", "config_sender", "http"].map((name) => ({
      name,
      url: new URL("../helpers/echo_worker.ts", import.meta.url),
      permissions: NOTHING,
    })),
    config,
    {
      onWorkerEvent: (e) => events.push(e),
      onBridgeEvent: (_from, event) => {
        if (event.type === "reload_request") echoed.push(event.request);
      },
    },
  );
  supervisor.start();
  await untilEvents(
    events,
    () => events.filter((e) => e.type === "started").length === 3,
    "starts",
  );
  assert.deepEqual(supervisor.states, {
    proxy: "running",
    config_sender: "running",
    http: "running",
  });
  const deadline = Date.now() + 5000;
  const workersSeen = () => new Set(echoed.filter((e) => e.endsWith(":workers")));
  while (workersSeen().size < 3 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.deepEqual([...workersSeen()].sort(), [
    "config_sender:workers",
    "http:workers",
    "proxy:workers",
  ]);
  echoed.length = 0;
  supervisor.broadcast({
    type: "command_result",
    request: "r1",
    result: { ok: true, data: {} },
  });
  supervisor.broadcast({ type: "clock_drift", id: METER, drift_seconds: 300 });
  // Worker-state echoes may still trail in; only the two routed events matter here.
  const routed = () => echoed.filter((e) => !e.endsWith(":workers"));
  while (routed().length < 2 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(routed().sort(), ["config_sender:clock_drift", "proxy:command_result"]);
  await supervisor.stop(2000);
});

Deno.test("a stop that arrives while a worker starts stops the service it started", async () => {
  const events: WorkerEvent[] = [];
  const seen: string[] = [];
  const supervisor = new Supervisor(
    [{
      name: "slow",
      url: new URL("../helpers/slow_start_worker.ts", import.meta.url),
      permissions: NOTHING,
    }],
    config,
    {
      onWorkerEvent: (e) => events.push(e),
      onBridgeEvent: (_from, event) => {
        if (event.type === "reload_request") seen.push(event.request);
      },
    },
  );
  supervisor.start();
  await new Promise((resolve) => setTimeout(resolve, 50));
  // Generous: the stop waits for the start to finish, and loading the worker can take seconds.
  await supervisor.stop(60_000);
  assert.deepEqual(seen, ["service stopped"]);
  assert.deepEqual(events.map((e) => e.type), ["started", "stopped"]);
});
