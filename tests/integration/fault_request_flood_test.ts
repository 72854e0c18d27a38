/**
 * Requests at their limits, with the real bridge and two real Mosquittos: a
 * client floods one meter that never answers, and the meter's queue is
 * longer than a request may take. Another meter's relay is served at once,
 * and no command reaches a meter after its request was answered.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { ApiResponse } from "../../src/protocol/bridge_api.ts";
import { METER_COMMANDS } from "../../src/protocol/commands.ts";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { SimulatedMeter } from "../../src/simulator/simulated_meter.ts";
import { startBridge } from "../helpers/bridge.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { sleep, until } from "../helpers/wait.ts";

const SILENT = "33B1225950027" as MeterId;
const ANSWERING = "33B1225950028" as MeterId;

/** A request may take (1 s × 2 × 3 attempts + 30 s) = 36 s with these settings. */
const REQUEST_TIMEOUT_MS = 36_000;

Deno.test("a flood of requests for a silent meter refuses only that meter's excess; nothing of an answered request is sent later", async () => {
  await using internal = await startMosquitto();
  await using central = await startMosquitto();
  await using _bridge = await startBridge(`internal_broker: { url: "${internal.url}" }
central_broker: { url: "${central.url}" }
meters:
  timezone: UTC
  ack_timeout_seconds: 1
  command_retries: 2
  relay_control: [${SILENT}, ${ANSWERING}]
logging: { format: json, level: info, stats_interval_seconds: 0 }
`);
  await using ha = await TestClient.connect(central.url);
  await ha.subscribe("kpm33b/#");
  await ha.waitFor(
    (r) => r.some((m) => m.topic === "kpm33b/bridge/state" && m.payload === "online"),
    "bridge/state online",
    30_000,
  );
  const answeredAt = new Map<string, number>();
  ha.client.on("message", (topic, payload) => {
    const transaction = /"transaction":"([^"]+)"/.exec(payload.toString())?.[1];
    if (topic.startsWith("kpm33b/bridge/response/") && transaction !== undefined) {
      answeredAt.set(transaction, Date.now());
    }
    if (topic === `kpm33b/${SILENT}/relay/result`) answeredAt.set("relay", Date.now());
  });
  // What reaches the silent meter, and when.
  const arrivals: { topic: string; at: number }[] = [];
  const spy = await mqtt.connectAsync(internal.url, { clientId: "spy", reconnectPeriod: 0 });
  await spy.subscribeAsync(METER_COMMANDS.map((name) => `MQTT_${name}_${SILENT.slice(-8)}`), {
    qos: 1,
  });
  spy.on("message", (topic) => arrivals.push({ topic, at: Date.now() }));
  const silent = await SimulatedMeter.start({
    url: internal.url,
    id: SILENT,
    timeZone: "UTC",
    autoPublish: false,
    dropAcks: Number.MAX_SAFE_INTEGER,
  });
  const answering = await SimulatedMeter.start({
    url: internal.url,
    id: ANSWERING,
    timeZone: "UTC",
    autoPublish: false,
  });
  try {
    await silent.publishInstant();
    await answering.publishInstant();
    await ha.waitFor(
      (r) => [SILENT, ANSWERING].every((id) => r.some((m) => m.topic === `kpm33b/discovery/${id}`)),
      "both meters announced",
    );
    await until(() => answering.commands.length >= 3, "the answering meter configured");

    // Five different requests for the silent meter, the relay last: its configuration and the
    // requests before the relay keep the meter busy longer than a request may take.
    const requests: [string, Record<string, unknown>][] = [
      ["meter/read_interval", {}],
      ["meter/set_interval", { seconds: 60, minutes: 5 }],
      ["meter/set_interval", { seconds: 300, minutes: 15 }],
      ["meter/read_interval", {}],
    ];
    for (const [i, [action, body]] of requests.entries()) {
      await ha.publish(
        `kpm33b/bridge/request/${action}`,
        JSON.stringify({ id: SILENT, ...body, transaction: `t${i}` }),
      );
    }
    const relayAt = Date.now();
    await ha.publish(`kpm33b/${SILENT}/relay/set`, "ON");
    // The flood: all refused at once, since the meter has five requests in progress.
    for (let i = 0; i < 1000; i++) {
      await ha.publish(
        "kpm33b/bridge/request/meter/sync_time",
        JSON.stringify({ id: SILENT, transaction: `flood${i}` }),
        { qos: 0 },
      );
    }
    const flood = () =>
      ha.on("kpm33b/bridge/response/meter/sync_time").filter((m) =>
        m.payload.includes('"transaction":"flood')
      );
    await ha.waitFor(() => flood().length === 1000, "1000 flood answers", 20_000);
    assert.ok(
      flood().every((m) =>
        JSON.parse(m.payload).error ===
          `5 requests for meter ${SILENT} are in progress; try again once they are answered`
      ),
      flood()[0]?.payload ?? "no answer",
    );

    // Another meter's relay is served while the silent one's backlog waits.
    const switchedAt = Date.now();
    await ha.publish(`kpm33b/${ANSWERING}/relay/set`, "ON");
    await ha.waitFor(
      (r) => r.some((m) => m.topic === `kpm33b/${ANSWERING}/relay/result`),
      "the answering meter's relay result",
    );
    const result = JSON.parse(ha.first(`kpm33b/${ANSWERING}/relay/result`).payload);
    assert.equal(result.status, "ok", JSON.stringify(result));
    console.log(`relay of the other meter answered after ${Date.now() - switchedAt} ms`);

    // The silent meter's relay is answered by its deadline: never sent.
    await ha.waitFor(
      (r) => r.some((m) => m.topic === `kpm33b/${SILENT}/relay/result`),
      "the silent meter's relay result",
      REQUEST_TIMEOUT_MS + 15_000,
    );
    const relay = ApiResponse.parse(
      JSON.parse(ha.first(`kpm33b/${SILENT}/relay/result`).payload),
    );
    assert.equal(relay.status, "error");
    assert.match(relay.error!, /relay DO1 on: not sent/);
    console.log(`silent meter's relay answered after ${answeredAt.get("relay")! - relayAt} ms`);
    await ha.waitFor(
      () => requests.every((_, i) => answeredAt.has(`t${i}`)),
      "every request answered",
      REQUEST_TIMEOUT_MS,
    );
    // Past the time the relay would have gone out behind the queue.
    await sleep(Math.max(0, relayAt + 75_000 - Date.now()));
    assert.deepEqual(
      arrivals.filter((a) => a.topic.startsWith("MQTT_TELECTRL_")),
      [],
      "the relay was reported not sent: it must never reach the meter",
    );
    const lastReadAnswer = Math.max(answeredAt.get("t0")!, answeredAt.get("t3")!);
    assert.deepEqual(
      arrivals.filter((a) => a.topic.startsWith("MQTT_COMMOD_READ_") && a.at > lastReadAnswer),
      [],
      "no interval read after the reads were answered",
    );
    assert.ok(silent.commands.length > 0, "the silent meter received its other commands");
  } finally {
    await spy.endAsync();
    await silent.stop();
    await answering.stop();
  }
});
