/**
 * Fault isolation: the real proxy worker and a config sender worker that
 * crashes, under the real supervisor with the real scoped permissions, two
 * real Mosquitto brokers and a simulated meter.
 */
import assert from "node:assert/strict";
import { Config } from "../../src/config/schema.ts";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { configSenderPermissions } from "../../src/supervisor/permissions.ts";
import { Supervisor, type WorkerEvent } from "../../src/supervisor/supervisor.ts";
import { workerSpecs } from "../../src/supervisor/workers.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { until } from "../helpers/wait.ts";
import { startMeter } from "../helpers/simulated_meters.ts";

const METER = "33B1225950027" as MeterId;

Deno.test("a crashing config sender is restarted while readings keep flowing", async () => {
  await using internal = await startMosquitto();
  await using central = await startMosquitto();
  const stateDir = await Deno.makeTempDir({ prefix: "kpm33b-fault-" });
  const config = Config.parse({
    internal_broker: { url: internal.url, client_id: "fault-test" },
    central_broker: { url: central.url, client_id: "fault-test" },
    state_dir: stateDir,
    meters: { timezone: "Europe/Vienna", ack_timeout_seconds: 2 },
    logging: { level: "fatal", stats_interval_seconds: 0 },
  });
  const [proxy] = workerSpecs(config);
  assert.ok(proxy !== undefined);
  const events: WorkerEvent[] = [];
  const supervisor = new Supervisor(
    [proxy, {
      name: "config_sender",
      url: new URL("../helpers/faulty_config_sender_worker.ts", import.meta.url),
      permissions: configSenderPermissions(config),
    }],
    config,
    { restartInitialMs: 200, restartMaxMs: 400, onWorkerEvent: (event) => events.push(event) },
  );
  await using consumer = await TestClient.connect(central.url);
  await consumer.subscribe("kpm33b/#");
  supervisor.start();
  const meter = await startMeter(internal.url, METER, "Europe/Vienna", {
    clockOffsetMs: Date.UTC(2005, 0, 18, 21, 15) - Date.now(),
  });
  const of = (name: string, type: WorkerEvent["type"]) =>
    events.filter((e) => e.name === name && e.type === type);
  try {
    await consumer.waitFor(
      (r) => r.some((m) => m.topic === "kpm33b/bridge/state" && m.payload === "online"),
      "bridge online",
    );
    await until(() => of("config_sender", "started").length === 1, "config sender started");
    // A reading from a 2005 clock: the proxy reports the drift, the config sender crashes on it.
    await meter.publishInstant();
    await until(() => of("config_sender", "crashed").length === 1, "the injected crash");
    const [crash] = of("config_sender", "crashed");
    assert.ok(
      crash?.type === "crashed" && crash.reason.includes("injected fault"),
      String(crash?.type),
    );

    // Readings published while the config sender is down or restarting still reach central.
    await meter.publishEnergy();
    await meter.publishInstant();
    await consumer.waitFor(
      (r) =>
        r.filter((m) => m.topic === `kpm33b/${METER}/seconds`).length === 2 &&
        r.some((m) => m.topic === `kpm33b/${METER}/minutes`),
      "readings after the crash",
    );

    // The supervisor restarted it; it learns the meter from the retained announcement.
    await until(() => of("config_sender", "started").length === 2, "config sender restarted");
    await until(() => Math.abs(meter.clockOffsetMs) < 3000, "meter clock set after the restart");
    assert.equal(of("proxy", "crashed").length, 0);
    assert.equal(of("proxy", "started").length, 1);
    assert.ok(meter.commands.every((c) => (c.payload.oprid as string).length === 32));
  } finally {
    await meter.stop();
    await supervisor.stop(3000);
    await Deno.remove(stateDir, { recursive: true });
  }
});
