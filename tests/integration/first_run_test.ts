/**
 * First run: the shipped config.yaml, unmodified, brings up the whole gateway
 * (embedded meters' broker and embedded central broker) with nothing else
 * installed; only ports and the state directory come from the environment.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { type BridgeProcess, startBridge } from "../helpers/bridge.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { freePort } from "../helpers/ports.ts";
import { until } from "../helpers/wait.ts";
import { startMeter } from "../helpers/simulated_meters.ts";

const SHIPPED = Deno.readTextFileSync(new URL("../../config.yaml", import.meta.url));
const METER = "33B1225950027" as MeterId;

async function waitForOutput(bridge: BridgeProcess, pattern: RegExp, what: string) {
  const deadline = Date.now() + 15_000;
  while (!pattern.test(bridge.output())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}:\n${bridge.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The shipped configuration with free ports and a temp state directory. */
async function firstRun(extraEnv: Record<string, string> = {}) {
  const internalPort = freePort();
  const centralPort = freePort();
  const stateDir = await Deno.makeTempDir({ prefix: "kpm33b-first-run-" });
  const env = {
    KPM33B_INTERNAL_PORT: String(internalPort),
    KPM33B_CENTRAL_PORT: String(centralPort),
    KPM33B_HTTP_PORT: String(freePort()),
    KPM33B_STATE_DIR: stateDir,
    ...extraEnv,
  };
  let bridge = await startBridge(SHIPPED, env);
  await waitForOutput(bridge, /Worker proxy started/, "the proxy");
  return {
    get bridge() {
      return bridge;
    },
    internalUrl: `mqtt://127.0.0.1:${internalPort}`,
    centralUrl: `mqtt://127.0.0.1:${centralPort}`,
    /** Stops the bridge and starts it again on the same ports and state directory. */
    async restart() {
      await bridge.stop();
      bridge = await startBridge(SHIPPED, env);
      await waitForOutput(bridge, /Worker proxy started/, "the proxy");
    },
    async [Symbol.asyncDispose]() {
      await bridge[Symbol.asyncDispose]();
      await Deno.remove(stateDir, { recursive: true });
    },
  };
}

Deno.test("the shipped config runs the whole gateway: simulated readings appear on the embedded central broker", async () => {
  await using run = await firstRun();
  const output = run.bridge.output();
  assert.match(output, /Meters' broker: embedded, listening on 127\.0\.0\.1:/);
  assert.match(output, /KPM33B_METER_PASSWORD/);
  assert.match(output, /mosquitto_sub -p \d+ -t 'kpm33b\/#' -v/);

  await using consumer = await TestClient.connect(run.centralUrl);
  await consumer.subscribe("kpm33b/#");
  await consumer.waitFor(
    (r) => r.some((m) => m.topic === "kpm33b/bridge/state" && m.payload === "online"),
    "bridge online",
  );
  const meter = await startMeter(run.internalUrl, METER, "Europe/Vienna");
  try {
    await meter.publishInstant();
    await meter.publishEnergy();
    await consumer.waitFor(
      (r) =>
        r.some((m) => m.topic === `kpm33b/${METER}/seconds`) &&
        r.some((m) => m.topic === `kpm33b/${METER}/minutes`),
      "the simulated readings",
    );
    // The configuration flow works through the embedded broker too.
    await consumer.waitFor(() => meter.commands.filter((c) => c.answered).length >= 2, "commands");
    assert.equal(meter.secondsInterval, 60);
  } finally {
    await meter.stop();
  }
  const { code, elapsedMs } = await run.bridge.stop();
  assert.equal(code, 0);
  assert.ok(elapsedMs < 5000, `stopped after ${elapsedMs} ms`);
});

Deno.test("with KPM33B_METER_PASSWORD the meters' broker opens to the LAN and requires credentials", async () => {
  await using run = await firstRun({ KPM33B_METER_PASSWORD: "meter-secret" });
  assert.match(run.bridge.output(), /listening on 0\.0\.0\.0:/);
  assert.match(run.bridge.output(), /Meters must log in/);
  assert.doesNotMatch(run.bridge.output(), /meter-secret/);

  await assert.rejects(
    mqtt.connectAsync(run.internalUrl, { reconnectPeriod: 0, connectTimeout: 5000 }),
    /not authori[sz]ed|bad user ?name or password/i,
  );
  await using consumer = await TestClient.connect(run.centralUrl);
  await consumer.subscribe("kpm33b/#");
  await consumer.waitFor(
    (r) => r.some((m) => m.topic === "kpm33b/bridge/state" && m.payload === "online"),
    "bridge online",
  );
  const meter = await startMeter(run.internalUrl, METER, "Europe/Vienna", {
    username: "meter",
    password: "meter-secret",
  });
  try {
    await meter.publishInstant();
    await consumer.waitFor(
      (r) => r.some((m) => m.topic === `kpm33b/${METER}/seconds`),
      "a reading from the authenticated meter",
    );
  } finally {
    await meter.stop();
  }
});

Deno.test("after a restart the embedded central broker forgot its announcements, but the API still knows the meters", async () => {
  await using run = await firstRun();
  const meter = await startMeter(run.internalUrl, METER, "UTC");
  try {
    await using before = await TestClient.connect(run.centralUrl);
    await before.subscribe("kpm33b/#");
    await before.waitFor(
      (r) => r.some((m) => m.topic === "kpm33b/bridge/state" && m.payload === "online"),
      "bridge online",
    );
    await meter.publishInstant();
    await before.waitFor(
      (r) => r.some((m) => m.topic === `kpm33b/discovery/${METER}`),
      "the meter announced",
    );
    // Its configuration: seconds and minutes intervals and the clock.
    await until(() => meter.commands.length >= 3, "the meter configured", 20_000);
    await before[Symbol.asyncDispose]();

    await run.restart();
    await using after = await TestClient.connect(run.centralUrl);
    await after.subscribe("kpm33b/#");
    await after.waitFor(
      (r) => r.some((m) => m.topic === "kpm33b/bridge/state" && m.payload === "online"),
      "bridge online again",
    );
    // No reading since the restart: nothing on central names the meter.
    assert.equal(after.on(`kpm33b/discovery/${METER}`).length, 0);
    await after.publish(
      "kpm33b/bridge/request/meter/read_interval",
      JSON.stringify({ id: METER, transaction: "r1" }),
    );
    await after.waitFor(
      (r) => r.some((m) => m.topic === "kpm33b/bridge/response/meter/read_interval"),
      "the response",
      40_000,
    );
    const response = JSON.parse(after.first("kpm33b/bridge/response/meter/read_interval").payload);
    assert.deepEqual(response, {
      status: "ok",
      data: { id: METER, seconds: 60, minutes: 1 },
      transaction: "r1",
    });
  } finally {
    await meter.stop();
  }
});
