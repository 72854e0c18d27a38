/**
 * End to end: two real Mosquitto brokers on free loopback ports, the real
 * bridge as a subprocess, real MQTT clients on both sides.
 */
import assert from "node:assert/strict";
import { startBridge } from "../helpers/bridge.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url);
const fixture = (name: string) => Deno.readTextFileSync(new URL(name, FIXTURES));

function bridgeConfig(internalUrl: string, centralUrl: string, extra = ""): string {
  // The restart test starts 300 meters at once.
  return `internal_broker: { url: "${internalUrl}", client_id: it-bridge }
central_broker: { url: "${centralUrl}", client_id: it-bridge }
meters: { timezone: Europe/Vienna, admission: { burst: 300 } }
logging: { format: json, level: info, stats_interval_seconds: 0 }
${extra}`;
}

/** Brokers, bridge and a central subscriber on `kpm33b/#`, ready for readings. */
async function setUp(extra = "") {
  const internal = await startMosquitto();
  const central = await startMosquitto();
  const bridge = await startBridge(bridgeConfig(internal.url, central.url, extra));
  const consumer = await TestClient.connect(central.url);
  await consumer.subscribe("kpm33b/#");
  await consumer.waitFor(
    (r) => r.some((m) => m.topic === "kpm33b/bridge/state" && m.payload === "online"),
    "bridge/state online",
  );
  const meter = await TestClient.connect(internal.url);
  return {
    internal,
    central,
    bridge,
    consumer,
    meter,
    async [Symbol.asyncDispose]() {
      await meter[Symbol.asyncDispose]();
      await consumer[Symbol.asyncDispose]();
      await bridge[Symbol.asyncDispose]();
      await internal.stop();
      await central.stop();
    },
  };
}

async function mosquittoPub(port: number, topic: string, file: URL): Promise<void> {
  const { code, stderr } = await new Deno.Command("mosquitto_pub", {
    args: ["-h", "127.0.0.1", "-p", String(port), "-q", "1", "-t", topic, "-f", file.pathname],
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
}

/** Readings a consumer saw on `kpm33b/<id>/<level>`, parsed. */
function readings(consumer: TestClient, level: string) {
  return consumer.received
    .filter((m) => m.topic.endsWith(`/${level}`))
    .map((m) => ({ topic: m.topic, retain: m.retain, ...JSON.parse(m.payload) }));
}

Deno.test("mosquitto_pub of the real samples yields clean seconds and minutes topics on central", async () => {
  await using env = await setUp();
  await mosquittoPub(env.internal.port, "MQTT_RT_DATA", new URL("MQTT_RT_DATA.json", FIXTURES));
  await mosquittoPub(env.internal.port, "MQTT_ENY_NOW", new URL("MQTT_ENY_NOW.json", FIXTURES));
  await env.consumer.waitFor((r) => r.some((m) => m.topic.endsWith("/minutes")), "minutes");

  assert.deepEqual(readings(env.consumer, "seconds"), [{
    topic: "kpm33b/33B1225950027/seconds",
    retain: false,
    id: "33B1225950027",
    time: "20260112163900",
    timestamp: "2026-01-12T16:39:00+01:00",
    active_power: 6.6905,
  }]);
  assert.deepEqual(readings(env.consumer, "minutes"), [{
    topic: "kpm33b/33B1225950027/minutes",
    retain: false,
    id: "33B1225950027",
    time: "20260117211500",
    timestamp: "2026-01-17T21:15:00+01:00",
    active_energy: 163.486,
  }]);
  // Exact payload text, key order included, as existing consumers parse it.
  assert.equal(
    env.consumer.first("kpm33b/33B1225950027/seconds").payload,
    '{"id":"33B1225950027","time":"20260112163900","timestamp":"2026-01-12T16:39:00+01:00","active_power":6.6905}',
  );

  // The announcement is retained: a consumer arriving later still gets it.
  await using late = await TestClient.connect(env.central.url);
  await late.subscribe("kpm33b/discovery/+");
  await late.waitFor((r) => r.length > 0, "retained announcement");
  assert.equal(late.received.length, 1);
  assert.equal(late.received[0]?.topic, "kpm33b/discovery/33B1225950027");
  assert.equal(late.received[0]?.retain, true);
  const announcement = JSON.parse(late.received[0].payload);
  assert.deepEqual(Object.keys(announcement), ["id", "model", "first_seen"]);
  assert.equal(announcement.id, "33B1225950027");
  assert.equal(announcement.model, "KPM33B");
  assert.ok(Math.abs(Date.parse(announcement.first_seen) - Date.now()) < 60_000);
  assert.equal(env.consumer.on("kpm33b/discovery/33B1225950027").length, 1);
});

Deno.test("SIGTERM: exit 0 within 5 s and bridge/state is offline (retained)", async () => {
  await using env = await setUp();
  await env.meter.publish("MQTT_RT_DATA", fixture("MQTT_RT_DATA.json"));
  await env.consumer.waitFor((r) => r.some((m) => m.topic.endsWith("/seconds")), "a reading");

  const { code, elapsedMs } = await env.bridge.stop("SIGTERM");
  assert.equal(code, 0, env.bridge.output());
  assert.ok(elapsedMs < 5000, `shutdown took ${elapsedMs} ms`);

  await using late = await TestClient.connect(env.central.url);
  await late.subscribe("kpm33b/bridge/state");
  await late.waitFor((r) => r.length > 0, "retained bridge state");
  assert.deepEqual(late.received, [{
    topic: "kpm33b/bridge/state",
    payload: "offline",
    retain: true,
  }]);
  const stats = env.bridge.logLines().find((l) => String(l.message).startsWith("Stats:"));
  assert.ok(stats, "final stats are logged on shutdown");
});

Deno.test("replaying the real short capture: no zero reading, energy never decreases, every distinct real reading forwarded", async () => {
  await using env = await setUp();
  const lines = fixture("MQTT_ENY_NOW_capture_short.jsonl").trim().split("\n");
  for (const line of lines) await env.meter.publish("MQTT_ENY_NOW", line);
  // A sentinel from another meter: once it arrives, the whole capture was processed.
  const sentinel = JSON.parse(fixture("MQTT_ENY_NOW.json"));
  sentinel.id = "33B9999999999";
  await env.meter.publish("MQTT_ENY_NOW", JSON.stringify(sentinel));
  await env.consumer.waitFor((r) => r.some((m) => m.topic.includes("33B9999999999/")), "sentinel");
  // Order is kept per meter, not across meters: the sentinel may overtake the last readings.
  await env.consumer.waitFor(
    () => readings(env.consumer, "minutes").length >= 5,
    "the capture's four distinct readings",
  );

  const published = readings(env.consumer, "minutes").filter((r) => r.id !== "33B9999999999");
  assert.ok(published.every((r) => r.active_energy !== 0), "no zero reading reaches central");
  const byMeter = Map.groupBy(published, (r) => r.id as string);
  for (const [id, series] of byMeter) {
    for (let i = 1; i < series.length; i++) {
      assert.ok(series[i].active_energy >= series[i - 1].active_energy, `${id} went backwards`);
    }
  }
  // Distinct real readings of the capture: 028 (31.057), 027 (163.486), and 029 at its
  // (wrong) 2005 clock twice: the second copy has zszsz 252.647 instead of 252.646.
  assert.deepEqual(
    published.map((r) => [r.id, r.time, r.active_energy]).sort(),
    [
      ["33B1225950027", "20260117211500", 163.486],
      ["33B1225950028", "20260117211500", 31.057],
      ["33B1225950029", "20050118211500", 168.878],
      ["33B1225950029", "20050118211500", 168.878],
    ],
  );
  assert.equal(env.consumer.on("kpm33b/discovery/33B1225950030").length, 0, "zero-only id");
});

Deno.test("hostile payloads never crash the bridge or reach central; each is counted and logged once", async () => {
  await using env = await setUp();
  const valid = JSON.parse(fixture("MQTT_RT_DATA.json"));
  const hostile: Array<[string, string, string]> = [
    ["id ../#", JSON.stringify({ ...valid, id: "../#" }), "invalid_id"],
    ["id +", JSON.stringify({ ...valid, id: "+" }), "invalid_id"],
    ["id #", JSON.stringify({ ...valid, id: "#" }), "invalid_id"],
    ["14 characters", JSON.stringify({ ...valid, id: "33B12259500270" }), "invalid_id"],
    ["not JSON", "{not json", "not_json"],
    ["array", JSON.stringify([valid]), "not_object"],
    ["2 MB", JSON.stringify({ ...valid, pad: "x".repeat(2 * 1024 * 1024) }), "oversized"],
    ["string for a number", JSON.stringify({ ...valid, zyggl: "lots" }), "invalid_payload"],
    ["object for a number", JSON.stringify({ ...valid, ia: { $gt: 1 } }), "invalid_payload"],
    ["newline in id", JSON.stringify({ ...valid, id: "33B12259\n0027" }), "invalid_id"],
  ];
  for (const [, payload] of hostile) await env.meter.publish("MQTT_RT_DATA", payload);
  await env.meter.publish("MQTT_RT_DATA", JSON.stringify({ ...valid, time: "20260112164000" }));
  await env.consumer.waitFor((r) => r.some((m) => m.topic.endsWith("/seconds")), "valid reading");

  const topics = env.consumer.received.map((m) => m.topic).filter((t) =>
    !t.startsWith("kpm33b/bridge/")
  );
  // The reading goes through the outbox, the availability straight out: their order varies.
  assert.deepEqual(topics.toSorted(), [
    "kpm33b/33B1225950027/availability",
    "kpm33b/33B1225950027/seconds",
    "kpm33b/discovery/33B1225950027",
  ]);
  // Log lines travel through the worker's log sink: they may trail the published reading.
  const rejectionLines = () =>
    env.bridge.logLines().filter((l) => String(l.message).startsWith("Rejected"));
  const deadline = Date.now() + 5000;
  while (rejectionLines().length < hostile.length && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const rejections = rejectionLines();
  assert.deepEqual(rejections.map((l) => l.code), hostile.map(([, , code]) => code));
  for (const line of rejections) assert.equal(line.level, "WARN");

  const { code } = await env.bridge.stop("SIGTERM");
  assert.equal(code, 0);
  const stats = env.bridge.logLines().find((l) => String(l.message).startsWith("Stats:"));
  assert.deepEqual((stats?.stats as { rejected: unknown }).rejected, {
    invalid_id: 5,
    not_json: 1,
    not_object: 1,
    oversized: 1,
    invalid_payload: 2,
  });
});

Deno.test("a client that publishes as soon as it sees online loses nothing", async () => {
  await using env = await setUp();
  const valid = JSON.parse(fixture("MQTT_RT_DATA.json"));
  const count = 50;
  for (let i = 0; i < count; i++) {
    const time = `2026011216${String(Math.floor(i / 60)).padStart(2, "0")}${
      String(i % 60).padStart(2, "0")
    }`;
    await env.meter.publish("MQTT_RT_DATA", JSON.stringify({ ...valid, time }));
  }
  await env.consumer.waitFor(
    (r) => r.filter((m) => m.topic.endsWith("/seconds")).length === count,
    `${count} readings`,
  );
  const times = readings(env.consumer, "seconds").map((r) => r.time);
  assert.equal(new Set(times).size, count);
  assert.deepEqual(times, [...times].sort(), "order kept");
});

Deno.test("internal broker outage: bridge/state goes offline, then online, and readings flow again", async () => {
  await using env = await setUp();
  const port = env.internal.port;
  await env.meter[Symbol.asyncDispose]();
  await env.internal.stop();
  await env.consumer.waitFor(
    (r) => r.filter((m) => m.topic === "kpm33b/bridge/state").at(-1)?.payload === "offline",
    "offline during the outage",
  );
  await using restarted = await startMosquitto("", port);
  await env.consumer.waitFor(
    (r) => r.filter((m) => m.topic === "kpm33b/bridge/state").at(-1)?.payload === "online",
    "online after the outage",
  );
  await using meter = await TestClient.connect(restarted.url);
  await meter.publish("MQTT_RT_DATA", fixture("MQTT_RT_DATA.json"));
  await env.consumer.waitFor((r) => r.some((m) => m.topic.endsWith("/seconds")), "a reading");
});

Deno.test("after a restart, readings kept for the bridge do not announce its meters anew", async () => {
  const METERS = 300;
  await using internal = await startMosquitto();
  await using central = await startMosquitto();
  const stateDir = await Deno.makeTempDir({ prefix: "kpm33b-restart-" });
  const config = bridgeConfig(internal.url, central.url, `state_dir: ${stateDir}\n`);
  await using consumer = await TestClient.connect(central.url);
  await consumer.subscribe(["kpm33b/discovery/+", "kpm33b/+/seconds"]);
  await using meter = await TestClient.connect(internal.url);
  const sample = JSON.parse(fixture("MQTT_RT_DATA.json"));
  const publishAll = async (time: string) => {
    for (let i = 0; i < METERS; i++) {
      const id = `33B${String(i).padStart(10, "0")}`;
      await meter.publish("MQTT_RT_DATA", JSON.stringify({ ...sample, id, time }));
    }
  };
  const announcements = () => consumer.received.filter((m) => m.topic.includes("/discovery/"));
  const readingsAt = (time: string) =>
    consumer.received.filter((m) => m.topic.endsWith("/seconds") && m.payload.includes(time));
  try {
    const first = await startBridge(config);
    await first.waitForLog((l) => String(l.message).startsWith("Subscribed to"), "subscribed");
    await publishAll("20260112163900");
    await consumer.waitFor(
      () => announcements().length === METERS,
      "every meter announced",
      30_000,
    );
    assert.equal((await first.stop()).code, 0);
    // Kept by the meters' broker for the bridge's session while it is away.
    await publishAll("20260112164000");
    const announced = announcements().length;
    const second = await startBridge(config);
    try {
      // The second bridge handles every kept reading…
      await consumer.waitFor(
        () => readingsAt('"20260112164000"').length === METERS,
        "every kept reading published by the second bridge",
        30_000,
      );
      // …without announcing its meters again.
      assert.deepEqual(announcements().slice(announced).map((m) => m.topic), []);
    } finally {
      await second.stop();
    }
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});
