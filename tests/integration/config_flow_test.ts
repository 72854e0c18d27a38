/**
 * The configuration flow end to end: the real bridge as a subprocess (proxy
 * and config sender workers), two real Mosquitto brokers, simulated meters.
 */
import assert from "node:assert/strict";
import { STATE_FILE } from "../../src/config_sender/state_store.ts";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { MeterClock } from "../../src/protocol/meter_time.ts";
import type { SimulatedMeter } from "../../src/simulator/simulated_meter.ts";
import { startBridge } from "../helpers/bridge.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { sleep, until } from "../helpers/wait.ts";
import { startMeter } from "../helpers/simulated_meters.ts";

const TIME_ZONE = "Europe/Vienna";
const METER_A = "33B1225950027" as MeterId;
const METER_B = "33B1225950028" as MeterId;

function bridgeConfig(internalUrl: string, centralUrl: string, meters = "", extra = ""): string {
  return `internal_broker: { url: "${internalUrl}", client_id: it-bridge }
central_broker: { url: "${centralUrl}", client_id: it-bridge }
meters:
  timezone: ${TIME_ZONE}
  ack_timeout_seconds: 2
${meters}
logging: { format: json, level: info, stats_interval_seconds: 0 }
${extra}`;
}

/** Brokers, a running bridge, a central consumer and a way to add simulated meters. */
async function setUp(meters = "", extra = "") {
  const internal = await startMosquitto();
  const central = await startMosquitto();
  const bridge = await startBridge(bridgeConfig(internal.url, central.url, meters, extra));
  const consumer = await TestClient.connect(central.url);
  await consumer.subscribe("kpm33b/#");
  await consumer.waitFor(
    (r) => r.some((m) => m.topic === "kpm33b/bridge/state" && m.payload === "online"),
    "bridge/state online",
  );
  const simulated: SimulatedMeter[] = [];
  return {
    internal,
    central,
    bridge,
    consumer,
    async meter(id: MeterId, clockOffsetMs = 0) {
      const meter = await startMeter(internal.url, id, TIME_ZONE, { clockOffsetMs });
      simulated.push(meter);
      return meter;
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(simulated.map((meter) => meter.stop()));
      await consumer[Symbol.asyncDispose]();
      await bridge[Symbol.asyncDispose]();
      await internal.stop();
      await central.stop();
    },
  };
}

const commandNames = (meter: SimulatedMeter) => commandNamesOf(meter.commands);

const commandNamesOf = (commands: SimulatedMeter["commands"]) =>
  commands.map(({ topic, payload }) =>
    topic.startsWith("MQTT_COMMOD_SET_")
      ? `COMMOD_SET ${payload.Cmd} ${payload.value}`
      : topic.replace(/_[0-9A-Z]{8}$/, "")
  );

Deno.test("a meter with its clock in 2005 has it set within seconds of being discovered", async () => {
  await using env = await setUp();
  const meter = await env.meter(METER_A, Date.UTC(2005, 0, 18, 21, 15) - Date.now());
  assert.match(meter.meterTime(), /^2005/);

  await meter.publishInstant();
  await env.consumer.waitFor(
    (r) => r.some((m) => m.topic === `kpm33b/discovery/${METER_A}`),
    "the meter's announcement",
  );
  const discoveredAt = Date.now();
  await until(() => Math.abs(meter.clockOffsetMs) < 3000, "meter clock set", 10_000);
  const elapsedMs = Date.now() - discoveredAt;
  assert.ok(elapsedMs < 5000, `clock set ${elapsedMs} ms after discovery`);
  await until(() => meter.commands.length >= 3, "the whole configuration");
  // No further configuration command follows.
  await sleep(500);
  // The drift report and the announcement race; either way the clock is set by one command
  // (one oprid; a slow acknowledgement on a loaded machine may make it a repeated attempt).
  const once = meter.commands.filter((c, i, all) =>
    all.findIndex((d) => d.payload.oprid === c.payload.oprid) === i
  );
  assert.deepEqual(commandNamesOf(once).sort(), [
    "COMMOD_SET 0000 60",
    "COMMOD_SET 0001 1",
    "MQTT_SETTIME",
  ]);
  assert.ok(meter.commands.every((c) => (c.payload.oprid as string).length === 32));

  // Readings from the corrected clock carry the gateway's time.
  await meter.publishInstant();
  await env.consumer.waitFor(
    (r) => r.filter((m) => m.topic === `kpm33b/${METER_A}/seconds`).length === 2,
    "a second reading",
  );
  const latest = env.consumer.on(`kpm33b/${METER_A}/seconds`).at(-1)!;
  const now = new MeterClock(TIME_ZONE).meterTimeAt(Date.now());
  assert.equal(JSON.parse(latest.payload).time.slice(0, 10), now.slice(0, 10));
});

Deno.test("a meter configured today whose clock drifts gets only its clock set, once", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "kpm33b-state-" });
  const today = new MeterClock(TIME_ZONE).meterTimeAt(Date.now()).slice(0, 8);
  const twoHoursAgo = new Date(Date.now() - 7_200_000).toISOString();
  await Deno.writeTextFile(
    `${stateDir}/${STATE_FILE}`,
    JSON.stringify({
      version: 1,
      meters: {
        [METER_A]: {
          configured: {
            day: today,
            settings: { upload_interval_seconds: 60, upload_interval_minutes: 1 },
            at: twoHoursAgo,
          },
          clock_set_at: twoHoursAgo,
        },
      },
    }),
  );
  try {
    await using env = await setUp("", `state_dir: ${stateDir}`);
    const meter = await env.meter(METER_A, -600_000);
    await meter.publishInstant();
    await until(() => meter.commands.length >= 1, "a clock command", 5000);
    assert.deepEqual(commandNames(meter), ["MQTT_SETTIME"]);
    await until(() => Math.abs(meter.clockOffsetMs) < 3000, "meter clock set");

    // Readings keep coming; the clock is not set again within the hour.
    await meter.publishInstant();
    await meter.publishEnergy();
    await env.consumer.waitFor(
      (r) => r.some((m) => m.topic === `kpm33b/${METER_A}/minutes`),
      "the energy reading",
    );
    // No second clock set follows.
    await sleep(1000);
    assert.deepEqual(commandNames(meter), ["MQTT_SETTIME"]);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("a changed config.yaml reconfigures only the affected meter; an invalid one is rejected", async () => {
  await using env = await setUp();
  const a = await env.meter(METER_A);
  const b = await env.meter(METER_B);
  await a.publishInstant();
  await b.publishInstant();
  await until(() => a.commands.length === 3 && b.commands.length === 3, "both configured");
  await env.bridge.waitForLog(
    (l) => l.id === METER_B && String(l.message).includes("configured:"),
    "B's configuration recorded",
  );
  const original = await Deno.readTextFile(env.bridge.configPath);

  await Deno.writeTextFile(
    env.bridge.configPath,
    original.replace(
      "  ack_timeout_seconds: 2",
      `  ack_timeout_seconds: 2\n  overrides: { "${METER_B}": { upload_interval_seconds: 300 } }`,
    ),
  );
  await until(() => b.commands.length === 5, "B reconfigured");
  // The clock was set moments ago with the first configuration: it is not sent again.
  assert.deepEqual(commandNames(b).slice(3), ["COMMOD_SET 0000 300", "COMMOD_SET 0001 1"]);
  assert.equal(b.secondsInterval, 300);

  await Deno.writeTextFile(
    env.bridge.configPath,
    original.replace(
      "  ack_timeout_seconds: 2",
      "  ack_timeout_seconds: 2\n  upload_interval_seconds: 45",
    ),
  );
  const rejected = await env.bridge.waitForLog(
    (l) => String(l.message).includes("Configuration change rejected"),
    "the rejection",
  );
  assert.match(String(rejected.message), /meters\.upload_interval_seconds/);
  assert.match(String(rejected.message), /45/);
  assert.match(String(rejected.message), /30, 60, 300/);

  // The running configuration stays in force and readings still flow.
  await a.publishEnergy();
  await env.consumer.waitFor(
    (r) => r.some((m) => m.topic === `kpm33b/${METER_A}/minutes`),
    "a reading after the rejected change",
  );
  // No command follows the rejected change.
  await sleep(500);
  assert.equal(a.commands.length, 3, JSON.stringify(commandNames(a)));
  assert.equal(b.commands.length, 5, JSON.stringify(commandNames(b)));
  assert.equal(b.secondsInterval, 300);
});
