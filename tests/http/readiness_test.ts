import assert from "node:assert/strict";
import { readiness } from "../../src/http/readiness.ts";
import { bridgeSnapshot, outboxProblem } from "../helpers/bridge_snapshot_fixture.ts";

const NOW = Date.parse("2025-03-01T12:00:00.000Z");
const RUNNING = { proxy: "running", config_sender: "running", http: "running" } as const;

Deno.test("a fresh snapshot, both brokers connected and all workers running: ready", () => {
  assert.deepEqual(readiness(bridgeSnapshot(new Date(NOW - 9_999)), RUNNING, NOW), {
    ready: true,
    reasons: [],
  });
});

Deno.test("without a snapshot or worker states the bridge is not ready yet", () => {
  assert.deepEqual(readiness(undefined, {}, NOW), {
    ready: false,
    reasons: ["no status from the proxy yet", "no worker states from the supervisor yet"],
  });
});

Deno.test("a snapshot 10 s old or older means the proxy stopped reporting", () => {
  assert.deepEqual(readiness(bridgeSnapshot(new Date(NOW - 12_400)), RUNNING, NOW).reasons, [
    "no status from the proxy for 12 s",
  ]);
  assert.equal(readiness(bridgeSnapshot(new Date(NOW - 10_000)), RUNNING, NOW).ready, false);
});

Deno.test("each disconnected broker and each worker not running is a reason", () => {
  const snapshot = bridgeSnapshot(new Date(NOW), { brokers: { internal: false, central: false } });
  const workers = { proxy: "running", http: "starting", config_sender: "restarting" } as const;
  assert.deepEqual(readiness(snapshot, workers, NOW), {
    ready: false,
    reasons: [
      "internal broker not connected",
      "central broker not connected",
      "worker config_sender is restarting",
      "worker http is starting",
    ],
  });
  assert.deepEqual(readiness(bridgeSnapshot(new Date(NOW)), { proxy: "stopped" }, NOW).reasons, [
    "worker proxy is stopped",
  ]);
});

Deno.test("without a proxy in the process, readiness is the workers' states alone", () => {
  assert.deepEqual(
    readiness(undefined, { config_sender: "running", http: "running" }, NOW, false),
    {
      ready: true,
      reasons: [],
    },
  );
  assert.deepEqual(
    readiness(undefined, { config_sender: "restarting", http: "running" }, NOW, false).reasons,
    ["worker config_sender is restarting"],
  );
});

Deno.test("an outbox problem makes the bridge not ready, with what was found and how to acknowledge it", () => {
  const problem = outboxProblem(new Date(NOW - 60_000));
  const snapshot = bridgeSnapshot(new Date(NOW), {
    outbox: { depth: 12, bytes: 2400, dropped: 0, durable: true, problem },
  });
  assert.deepEqual(readiness(snapshot, RUNNING, NOW), {
    ready: false,
    reasons: [
      "outbox /var/lib/kpm33b/outbox.sqlite found empty at start, 3000 readings expected " +
      "(since 2025-03-01T11:59:00.000Z); acknowledge with the bridge API request outbox/acknowledge",
    ],
  });
  const acknowledged = bridgeSnapshot(new Date(NOW), {
    outbox: { ...snapshot.outbox, problem: null },
  });
  assert.equal(readiness(acknowledged, RUNNING, NOW).ready, true);
});
