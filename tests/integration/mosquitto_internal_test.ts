/**
 * The bridge with Mosquitto as the meters' broker, run from the shipped
 * mosquitto/internal.conf with the accounts generated from the same
 * configuration the bridge runs with: readings flow and meters get configured,
 * also a meter named nowhere in the configuration, without any meter account
 * reading what it must not.
 */
import assert from "node:assert/strict";
import { Config } from "../../src/config/schema.ts";
import { METER_COMMANDS } from "../../src/protocol/commands.ts";
import { commandSuffix, type MeterId } from "../../src/protocol/meter_id.ts";
import type { SimulatedMeter } from "../../src/simulator/simulated_meter.ts";
import {
  CONTRACT_AUTH,
  CONTRACT_INTERNAL_BROKER,
  METER_A,
  METER_C,
} from "../broker/broker_security_contract.ts";
import { startBridge } from "../helpers/bridge.ts";
import { shippedInternalMosquitto, startMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { freePort } from "../helpers/ports.ts";
import { sleep } from "../helpers/wait.ts";
import { startMeter } from "../helpers/simulated_meters.ts";

/** Mosquitto from the shipped files, a central broker and the bridge, stopped in reverse. */
async function startSetUp(stack: AsyncDisposableStack) {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-mosquitto-internal-" });
  // Deferred first, so it is removed after the broker has stopped.
  stack.defer(() => Deno.remove(dir, { recursive: true }));
  const port = freePort();
  const internalUrl = `mqtt://127.0.0.1:${port}`;
  // No `meters` section: Mosquitto's accounts must not depend on which meters it names.
  const config = Config.parse({
    internal_broker: { url: internalUrl, ...CONTRACT_INTERNAL_BROKER },
  });
  const internal = stack.use(await shippedInternalMosquitto(config, dir, port));
  const central = stack.use(await startMosquitto());
  const bridge = stack.use(
    await startBridge(`internal_broker:
  url: ${internalUrl}
  username: ${CONTRACT_AUTH.bridge.username}
  password: ${CONTRACT_AUTH.bridge.password}
central_broker: { url: "${central.url}" }
meters: { timezone: Europe/Vienna }
logging: { format: json, stats_interval_seconds: 0 }
`),
  );
  const consumer = stack.use(await TestClient.connect(central.url));
  await consumer.subscribe("kpm33b/#");
  await bridge.waitForLog((l) => l.message === "Bridge state online", "online");
  return { internal, consumer };
}

Deno.test("the bridge works through Mosquitto run with the shipped internal.conf", async () => {
  await using stack = new AsyncDisposableStack();
  const { internal, consumer } = await startSetUp(stack);
  const meter = await startMeter(
    internal.url,
    METER_A as MeterId,
    "Europe/Vienna",
    CONTRACT_AUTH.meterA,
  );
  stack.defer(() => meter.stop());
  await meter.publishInstant();
  await consumer.waitFor(
    (r) => r.some((m) => m.topic === `kpm33b/${METER_A}/seconds`),
    "a reading through Mosquitto",
  );
  await consumer.waitFor(
    () => meter.commands.filter((c) => c.answered).length === 3,
    "the meter configured through Mosquitto",
  );
});

Deno.test("a meter named nowhere is configured through Mosquitto with the shared account; it reads nothing else", async () => {
  await using stack = new AsyncDisposableStack();
  const { internal, consumer } = await startSetUp(stack);
  // Another client of the shared account, reading all it can (Mosquitto refuses `#`).
  const snooper = stack.use(
    await TestClient.connect(internal.url, "snooper", CONTRACT_AUTH.shared),
  );
  await snooper.subscribe("+");
  const shared = await startMeter(
    internal.url,
    METER_C as MeterId,
    "Europe/Vienna",
    CONTRACT_AUTH.shared,
  );
  stack.defer(() => shared.stop());
  const bound = await startMeter(
    internal.url,
    METER_A as MeterId,
    "Europe/Vienna",
    CONTRACT_AUTH.meterA,
  );
  stack.defer(() => bound.stop());

  await shared.publishInstant();
  await bound.publishInstant();
  await consumer.waitFor(
    (r) => [METER_C, METER_A].every((id) => r.some((m) => m.topic === `kpm33b/${id}/seconds`)),
    "both meters' readings",
  );
  await consumer.waitFor(
    () => [shared, bound].every((m) => m.commands.filter((c) => c.answered).length === 3),
    "both meters configured through Mosquitto",
  );
  const topics = (meter: SimulatedMeter) => meter.commands.map((c) => c.topic).sort();
  const c = commandSuffix(METER_C as MeterId);
  assert.ok(topics(shared).includes(`MQTT_COMMOD_SET_${c}`), "the intervals");
  assert.ok(topics(shared).includes(`MQTT_SETTIME_${c}`), "the clock");
  // No further message reaches the snooper late.
  await sleep(300);
  // The snooper reads the shared meter's commands, and neither a bound meter's commands
  // nor any meter's readings or replies.
  const commandOf = new RegExp(`^MQTT_(?:${METER_COMMANDS.join("|")})_([0-9A-Z]{8})$`);
  assert.deepEqual(
    [...new Set(snooper.received.map((m) => commandOf.exec(m.topic)?.[1] ?? m.topic))],
    [c],
  );
});
