/**
 * `outbox.enabled: false`: a reading is acknowledged to the internal broker
 * only once central has it, so a bridge crash while central is away loses
 * nothing the internal broker kept — also when the internal connection dropped
 * first and the broker redelivered the reading (DUP), which the filter drops
 * as a duplicate of the copy still waiting in memory.
 */
import assert from "node:assert/strict";
import { MeterClock } from "../../src/protocol/meter_time.ts";
import { startBridge } from "../helpers/bridge.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { freePort } from "../helpers/ports.ts";
import { meterId } from "../helpers/replay.ts";
import { ThrottleProxy } from "../helpers/throttle_proxy.ts";
import { sleep, waitUntil } from "../helpers/wait.ts";

async function scenario(dropInternalLink: boolean): Promise<string[]> {
  await using internal = await startMosquitto("max_queued_messages 100000");
  await using link = ThrottleProxy.start(internal.port, Infinity);
  const centralPort = freePort(); // central is down
  const yaml = `internal_broker: { url: "${link.url}", embedded: { enabled: false } }
central_broker: { url: "mqtt://127.0.0.1:${centralPort}", embedded: { enabled: false } }
meters: { timezone: UTC, time_sync: { max_drift_seconds: 86400 } }
outbox: { enabled: false }
logging: { level: debug, format: json, stats_interval_seconds: 0 }
`;
  const id = meterId(1);
  {
    await using bridge = await startBridge(yaml);
    await bridge.waitForLog((l) => String(l.message).startsWith("Subscribed to"), "subscribed");
    await using meter = await TestClient.connect(internal.url);
    const time = new MeterClock("UTC").meterTimeAt(Date.now());
    await meter.publish("MQTT_ENY_NOW", JSON.stringify({ id, time, zygsz: 163.486, isend: "1" }));
    await bridge.waitForLog(
      (l) => String(l.message).startsWith("New meter"),
      "the reading taken in by the bridge",
    );
    if (dropInternalLink) {
      link.dropConnections(); // a network blip or a restart of the meters' broker
      await bridge.waitForLog(
        (l) => String(l.message).includes("redelivered reading"),
        "the redelivery dropped as a duplicate",
      );
      // Room for a wrong acknowledgement of the duplicate to reach the broker before the crash.
      await sleep(500);
    }
    await bridge.stop("SIGKILL"); // crash while central is still away
  }
  await using central = await startMosquitto("", centralPort);
  await using consumer = await TestClient.connect(central.url);
  await consumer.subscribe(`kpm33b/${id}/minutes`);
  await using _again = await startBridge(yaml);
  await waitUntil(() => consumer.received.length > 0, 15_000);
  return consumer.received.map((m) => JSON.parse(m.payload).time);
}

Deno.test("memory outbox, bridge killed while central is away: the reading arrives after restart", async () => {
  const times = await scenario(false);
  assert.equal(times.length, 1);
});

Deno.test("memory outbox, internal link drops then bridge killed while central is away: the reading still arrives", async () => {
  const times = await scenario(true);
  assert.equal(
    times.length,
    1,
    "the redelivered duplicate was acknowledged before central had the reading",
  );
});
