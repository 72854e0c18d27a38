/**
 * Admission of new meters end to end (`meters.admission`): the real bridge
 * (all workers, HTTP on), Mosquitto as the meters' and as the central broker.
 * One client with the meters' credentials invents hundreds of meter ids
 * within a second; only as many as the rate allows become meters
 * (announcement, Home Assistant discovery, configuration commands), known
 * meters keep flowing, and a restart does not make known meters new.
 */
import assert from "node:assert/strict";
import { MeterClock } from "../../src/protocol/meter_time.ts";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { type BridgeProcess, startBridge } from "../helpers/bridge.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { type Received, TestClient } from "../helpers/mqtt_client.ts";
import { freePort } from "../helpers/ports.ts";
import { sleep, until } from "../helpers/wait.ts";
import { startMeter } from "../helpers/simulated_meters.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url);
const SAMPLE = JSON.parse(Deno.readTextFileSync(new URL("MQTT_RT_DATA.json", FIXTURES)));
const CLOCK = new MeterClock("UTC");

/** An instant reading of `id` at the meter clock of now. */
const readingOf = (id: string) =>
  JSON.stringify({ ...SAMPLE, id, time: CLOCK.meterTimeAt(Date.now()) });

const floodId = (n: number) => `44A${String(n).padStart(10, "0")}`;

/** The meter id in an announcement or Home Assistant discovery topic. */
function meterOf(topic: string): string | undefined {
  return topic.match(/^kpm33b\/discovery\/([0-9A-Z]{13})$/)?.[1] ??
    topic.match(/^homeassistant\/[^/]+\/kpm33b_([0-9A-Z]{13})\/[^/]+\/config$/)?.[1];
}

/** The id suffix a command on the meters' broker is addressed to. */
function commandSuffixOf(topic: string): string | undefined {
  return topic.match(/^MQTT_(?:COMMOD_SET|SETTIME|COMMOD_READ|TELECTRL)_([0-9A-Z]{8})$/)?.[1];
}

function bridgeConfig(internal: string, central: string, admission: string, extra = ""): string {
  return `internal_broker: { url: "${internal}", client_id: it-admission }
central_broker: { url: "${central}", client_id: it-admission }
meters:
  timezone: UTC
  time_sync: { max_drift_seconds: 86400 }
  admission: ${admission}
logging: { format: json, level: info, stats_interval_seconds: 0 }
${extra}`;
}

/** `kpm33b_messages_rejected_total{reason="<reason>"}` from /metrics; 0 while absent. */
async function rejectedTotal(http: string, reason: string): Promise<number> {
  const text = await (await fetch(`${http}/metrics`)).text();
  const line = text.split("\n").find((l) =>
    l.startsWith(`kpm33b_messages_rejected_total{reason="${reason}"} `)
  );
  return line === undefined ? 0 : Number(line.split(" ")[1]);
}

function announcedIds(received: readonly Received[]): Set<string> {
  return new Set(
    received.flatMap((m) =>
      m.topic.startsWith("kpm33b/discovery/") && m.payload !== "" ? [meterOf(m.topic)!] : []
    ),
  );
}

async function waitOnline(central: TestClient): Promise<void> {
  await central.waitFor(
    (r) => r.some((m) => m.topic === "kpm33b/bridge/state" && m.payload === "online"),
    "bridge/state online",
    30_000,
  );
}

async function waitSubscribed(bridge: BridgeProcess): Promise<void> {
  await bridge.waitForLog(
    (l) => String(l.message).startsWith("Subscribed to"),
    "the internal subscription",
    30_000,
  );
}

Deno.test("700 new meter ids within a second become meters only as fast as meters.admission allows", async () => {
  const BURST = 20;
  const PER_MINUTE = 60;
  const FLOOD = 700;
  await using internal = await startMosquitto("max_queued_messages 100000");
  await using central = await startMosquitto();
  const known = "33B1225950027" as MeterId;
  const retained = "33B1225950028" as MeterId;
  // Announced on central before the bridge starts: known, like a meter of an earlier run.
  {
    await using before = await TestClient.connect(central.url);
    await before.publish(
      `kpm33b/discovery/${retained}`,
      JSON.stringify({ id: retained, model: "KPM33B", first_seen: "2026-01-01T00:00:00.000Z" }),
      { qos: 1, retain: true },
    );
  }
  const httpPort = freePort();
  const http = `http://127.0.0.1:${httpPort}`;
  await using bridge = await startBridge(bridgeConfig(
    internal.url,
    central.url,
    `{ burst: ${BURST}, new_per_minute: ${PER_MINUTE} }`,
    `http: { host: 127.0.0.1, port: ${httpPort} }\n`,
  ));
  await using observer = await TestClient.connect(central.url);
  await observer.subscribe(["kpm33b/#", "homeassistant/#"]);
  await waitOnline(observer);
  await waitSubscribed(bridge);
  await using commands = await TestClient.connect(internal.url);
  await commands.subscribe("#");

  const meter = await startMeter(internal.url, known, "UTC");
  try {
    await meter.publishInstant();
    await observer.waitFor(
      (r) => r.some((m) => m.topic === `kpm33b/${known}/seconds`),
      "the known meter's first reading",
    );

    // One client with the meters' password, 700 invented ids at once.
    await using attacker = await TestClient.connect(internal.url);
    const floodStart = Date.now();
    await Promise.all(
      Array.from(
        { length: FLOOD },
        (_, n) => attacker.publish("MQTT_RT_DATA", readingOf(floodId(n)), { qos: 0 }),
      ),
    );
    const flooded = () => [...announcedIds(observer.received)].filter((id) => id.startsWith("44A"));
    // Every invented id is either a meter now or refused and counted.
    let refused = 0;
    const deadline = Date.now() + 60_000;
    while ((refused = await rejectedTotal(http, "not_admitted")) + flooded().length < FLOOD) {
      if (Date.now() > deadline) {
        assert.fail(`${refused} refused + ${flooded().length} admitted of ${FLOOD} invented ids`);
      }
      await sleep(200);
    }
    const bound = (at: number) => BURST + Math.ceil((at - floodStart) / 60_000 * PER_MINUTE);
    const admitted = flooded();
    console.log(
      `${admitted.length} of ${FLOOD} invented ids admitted, ${refused} refused, in ` +
        `${Date.now() - floodStart} ms`,
    );
    assert.ok(admitted.length >= BURST - 1, `the burst is admitted: ${admitted.length}`);
    assert.ok(admitted.length <= bound(Date.now()), `${admitted.length} admitted`);
    assert.equal(refused + admitted.length, FLOOD);
    await bridge.waitForLog(
      (l) =>
        /not_admitted/.test(String(l.message)) &&
        /meters\.admission\.new_per_minute/.test(String(l.message)),
      "a log line naming meters.admission.new_per_minute",
    );

    // Known meters keep flowing: one seen before the flood, one announced on central before start.
    await meter.publishInstant();
    await using retainedMeter = await TestClient.connect(internal.url);
    await retainedMeter.publish("MQTT_RT_DATA", readingOf(retained));
    await observer.waitFor(
      (r) =>
        r.filter((m) => m.topic === `kpm33b/${known}/seconds`).length === 2 &&
        r.some((m) => m.topic === `kpm33b/${retained}/seconds`),
      "readings of the known meters after the flood",
    );

    // Refused meters report again: as many as the rate allows by now are admitted.
    await sleep(3000);
    const retry = Array.from({ length: FLOOD }, (_, n) => floodId(n)).filter((id) =>
      !admitted.includes(id)
    );
    await Promise.all(
      retry.map((id) => attacker.publish("MQTT_RT_DATA", readingOf(id), { qos: 0 })),
    );
    await until(() => flooded().length > admitted.length, "a refused meter admitted later", 30_000);
    // No more meters are admitted than the rate allows.
    await sleep(2000);
    const later = flooded();
    assert.ok(later.length <= bound(Date.now()), `${later.length} admitted in all`);

    // Discovery and configuration only for admitted meters (and the bridge's own device).
    const meters = new Set([...later, known, retained]);
    const discovered = new Set(
      observer.received.flatMap((m) =>
        m.topic.startsWith("homeassistant/") && !m.topic.includes("/kpm33b_bridge/")
          ? [meterOf(m.topic) ?? m.topic]
          : []
      ),
    );
    assert.deepEqual([...discovered].filter((id) => !meters.has(id)), []);
    const [firstAdmitted] = admitted;
    assert.ok(firstAdmitted !== undefined);
    assert.ok(discovered.has(known) && discovered.has(firstAdmitted));
    const suffixes = new Set([...meters].map((id) => id.slice(-8)));
    const commanded = new Set(
      commands.received.flatMap((m) => {
        const suffix = commandSuffixOf(m.topic);
        return suffix === undefined ? [] : [suffix];
      }),
    );
    assert.deepEqual([...commanded].filter((suffix) => !suffixes.has(suffix)), []);
    assert.ok(commanded.has(known.slice(-8)), "the known meter is configured");
    // No reading of a refused meter reached central.
    const published = new Set(
      observer.received.flatMap((m) => {
        const [, id] = m.topic.match(/^kpm33b\/([0-9A-Z]{13})\/seconds$/) ?? [];
        return id === undefined ? [] : [id];
      }),
    );
    assert.deepEqual([...published].filter((id) => !meters.has(id)), []);
  } finally {
    await meter.stop();
  }
});

Deno.test("meters known before a restart are admitted at once after it, new ones still counted", async () => {
  const METERS = Array.from({ length: 5 }, (_, n) => `33B00000${String(10_000 + n)}`);
  const stateDir = await Deno.makeTempDir({ prefix: "kpm33b-admission-" });
  await using internal = await startMosquitto("max_queued_messages 100000");
  await using meters = await TestClient.connect(internal.url);
  try {
    {
      await using central = await startMosquitto();
      await using observer = await TestClient.connect(central.url);
      await observer.subscribe("kpm33b/#");
      const first = await startBridge(
        bridgeConfig(
          internal.url,
          central.url,
          "{ burst: 5, new_per_minute: 1 }",
          `state_dir: ${stateDir}\n`,
        ),
      );
      try {
        await waitOnline(observer);
        await waitSubscribed(first);
        for (const id of METERS) await meters.publish("MQTT_RT_DATA", readingOf(id));
        await observer.waitFor(
          (r) => METERS.every((id) => r.some((m) => m.topic === `kpm33b/${id}/seconds`)),
          "every meter's reading",
        );
        assert.equal((await first.stop()).code, 0);
      } finally {
        await first.stop();
      }
    }
    // A new central broker: nothing retained there; the bridge knows its meters from state_dir.
    await using central = await startMosquitto();
    await using observer = await TestClient.connect(central.url);
    await observer.subscribe("kpm33b/#");
    await using second = await startBridge(
      bridgeConfig(
        internal.url,
        central.url,
        "{ burst: 1, new_per_minute: 1 }",
        `state_dir: ${stateDir}\n`,
      ),
    );
    await waitOnline(observer);
    await waitSubscribed(second);
    const [newcomer, refused] = ["44A0000000001", "44A0000000002"];
    for (const id of [...METERS, newcomer, refused]) {
      await meters.publish("MQTT_RT_DATA", readingOf(id));
    }
    await observer.waitFor(
      (r) => [...METERS, newcomer].every((id) => r.some((m) => m.topic === `kpm33b/${id}/seconds`)),
      "the known meters' readings and the one new meter the burst allows",
    );
    await second.waitForLog(
      (l) => String(l.message).includes(`new meter ${refused} refused`),
      "the second new meter refused",
    );
    assert.deepEqual(
      observer.received.filter((m) => m.topic.startsWith(`kpm33b/${refused}`)),
      [],
    );
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});
