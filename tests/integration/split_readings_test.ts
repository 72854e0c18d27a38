/**
 * Split readings (`isend` "0" … "1") from more meters at once than the
 * internal broker's in-flight window: Mosquitto sends a client at most
 * `max_inflight_messages` unacknowledged QoS 1 messages (shipped
 * mosquitto/internal.conf: 100). If the bridge held back the acknowledgement
 * of first packets until their reading completed, the final packets would
 * queue behind them in the broker until reassembly gave the first ones up.
 */
import assert from "node:assert/strict";
import { MeterClock } from "../../src/protocol/meter_time.ts";
import { startBridge } from "../helpers/bridge.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { meterId } from "../helpers/replay.ts";
import { waitUntil } from "../helpers/wait.ts";

const METERS = 101; // one more than the shipped max_inflight_messages

Deno.test("more concurrent split readings than the broker's in-flight window are all delivered whole", async () => {
  await using internal = await startMosquitto(
    "max_inflight_messages 100\nmax_queued_messages 100000",
  );
  await using central = await startMosquitto();
  await using consumer = await TestClient.connect(central.url);
  await consumer.subscribe("kpm33b/#");
  await using bridge = await startBridge(
    `internal_broker: { url: "${internal.url}", embedded: { enabled: false } }
central_broker: { url: "${central.url}", embedded: { enabled: false } }
meters:
  timezone: UTC
  fields: [voltage]
  time_sync: { max_drift_seconds: 86400 }
  admission: { burst: ${METERS} }
limits: { reassembly_max_age_seconds: 10 }
logging: { level: info, format: json, stats_interval_seconds: 0 }
`,
  );
  await consumer.waitFor(
    (r) => r.some((m) => m.topic === "kpm33b/bridge/state" && m.payload === "online"),
    "bridge online",
    30_000,
  );
  await using publisher = await TestClient.connect(internal.url);
  const time = new MeterClock("UTC").meterTimeAt(Date.now());
  const ids = Array.from({ length: METERS }, (_, m) => meterId(m));
  // Meters of a site report at the same second: first packets, then final packets.
  for (const id of ids) {
    await publisher.publish(
      "MQTT_RT_DATA",
      JSON.stringify({ id, time, ua: 230.1, ub: 230.2, uc: 230.3, isend: "0" }),
    );
  }
  for (const id of ids) {
    await publisher.publish("MQTT_RT_DATA", JSON.stringify({ id, time, zyggl: 1.5, isend: "1" }));
  }
  const started = Date.now();
  const readings = () =>
    consumer.received.filter((m) => m.topic.endsWith("/seconds")).map((m) => JSON.parse(m.payload));
  await waitUntil(() => readings().length >= METERS, 30_000);
  console.log(`${METERS} split readings delivered whole in ${Date.now() - started} ms`);
  const whole = readings().filter((r) => r.voltage_l1 !== null && r.active_power !== null).length;
  const gaveUp =
    bridge.logLines().filter((l) => String(l.message).startsWith("Gave up split")).length;
  assert.deepEqual(
    { readings: readings().length, whole, gaveUpLogLines: gaveUp },
    { readings: METERS, whole: METERS, gaveUpLogLines: 0 },
  );
});
