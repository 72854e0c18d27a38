/**
 * The bridge with Mosquitto as the meters' broker, run from the shipped
 * mosquitto/internal.conf with password and ACL files generated from the same
 * configuration the bridge runs with: readings flow and meters get configured.
 */
import { Config } from "../../src/config/schema.ts";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { SimulatedMeter } from "../../src/simulator/simulated_meter.ts";
import { CONTRACT_AUTH, CONTRACT_INTERNAL_BROKER } from "../broker/broker_security_contract.ts";
import { startBridge } from "../helpers/bridge.ts";
import { shippedInternalMosquitto, startMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { freePort } from "../helpers/ports.ts";

const METER = "33B1225950027" as MeterId;

Deno.test("the bridge works through Mosquitto run with the shipped internal.conf", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-mosquitto-internal-" });
  // Declared first, so it is removed after the broker has stopped.
  await using _dir = { [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
  const port = freePort();
  const internalUrl = `mqtt://127.0.0.1:${port}`;
  const config = Config.parse({
    internal_broker: { url: internalUrl, ...CONTRACT_INTERNAL_BROKER },
  });
  await using internal = await shippedInternalMosquitto(config, dir, port);
  await using central = await startMosquitto();
  await using bridge = await startBridge(`internal_broker:
  url: ${internalUrl}
  username: ${CONTRACT_AUTH.bridge.username}
  password: ${CONTRACT_AUTH.bridge.password}
central_broker: { url: "${central.url}" }
meters: { timezone: Europe/Vienna }
logging: { format: json, stats_interval_seconds: 0 }
`);
  await using consumer = await TestClient.connect(central.url);
  await consumer.subscribe("kpm33b/#");
  await bridge.waitForLog((l) => l.message === "Bridge state online", "online");
  const meter = await SimulatedMeter.start({
    url: internal.url,
    id: METER,
    ...CONTRACT_AUTH.meterA,
    timeZone: "Europe/Vienna",
    autoPublish: false,
  });
  try {
    await meter.publishInstant();
    await consumer.waitFor(
      (r) => r.some((m) => m.topic === `kpm33b/${METER}/seconds`),
      "a reading through Mosquitto",
    );
    await consumer.waitFor(
      () => meter.commands.filter((c) => c.answered).length === 3,
      "the meter configured through Mosquitto",
    );
  } finally {
    await meter.stop();
  }
});
