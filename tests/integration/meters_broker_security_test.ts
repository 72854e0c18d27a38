/**
 * The embedded meters' broker of the real bridge against a client holding the
 * shared meter password: it cannot act as a meter with an account of its own
 * (readings, commands, command replies), and an oversized publish closes only
 * its own connection.
 */
import assert from "node:assert/strict";
import mqtt, { type MqttClient } from "mqtt";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { type BridgeProcess, startBridge } from "../helpers/bridge.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { freePort } from "../helpers/ports.ts";
import { sleep, until, within } from "../helpers/wait.ts";
import { startMeter } from "../helpers/simulated_meters.ts";

const TIME_ZONE = "Europe/Vienna";
/** Has an account of its own. */
const BOUND = "33B1225950027" as MeterId;
/** Uses the shared account. */
const SHARED = "33B1225950029" as MeterId;
const BRIDGE_ACCOUNT = { username: "bridge", password: "bridge-secret" };
const SHARED_ACCOUNT = { username: "meter", password: "meter-secret" };
const BOUND_ACCOUNT = { username: "panel-a", password: "a-secret" };

async function setUp() {
  const central = await startMosquitto();
  const port = freePort();
  const internalUrl = `mqtt://127.0.0.1:${port}`;
  const bridge = await startBridge(`internal_broker:
  url: ${internalUrl}
  username: ${BRIDGE_ACCOUNT.username}
  password: ${BRIDGE_ACCOUNT.password}
  embedded: { enabled: true, host: 127.0.0.1 }
  meter_auth:
    password: ${SHARED_ACCOUNT.password}
    accounts:
      "${BOUND}": { username: ${BOUND_ACCOUNT.username}, password: ${BOUND_ACCOUNT.password} }
central_broker: { url: "${central.url}" }
meters:
  timezone: ${TIME_ZONE}
  relay_control: ["${BOUND}"]
  ack_timeout_seconds: 2
  command_retries: 0
logging: { format: json, level: info, stats_interval_seconds: 0 }
`);
  const consumer = await TestClient.connect(central.url);
  await consumer.subscribe("kpm33b/#");
  await consumer.waitFor(
    (r) => r.some((m) => m.topic === "kpm33b/bridge/state" && m.payload === "online"),
    "bridge online",
    30_000,
  );
  return {
    bridge,
    consumer,
    internalUrl,
    meter(id: MeterId, account: { username: string; password: string }) {
      return startMeter(internalUrl, id, TIME_ZONE, account);
    },
    async client(account: { username: string; password: string }, clientId: string) {
      const client = await mqtt.connectAsync(internalUrl, {
        clientId,
        ...account,
        reconnectPeriod: 0,
        connectTimeout: 5000,
        protocolVersion: 4,
      });
      client.on("error", () => {});
      return client;
    },
    async [Symbol.asyncDispose]() {
      await consumer.client.endAsync(true);
      await bridge[Symbol.asyncDispose]();
      await central.stop();
    },
  };
}

function warnings(bridge: BridgeProcess, prefix: string) {
  return bridge.logLines().filter((l) => String(l.message).startsWith(prefix));
}

/** The QoS a broker grants for a subscription; 128 is a refusal. */
async function grantedQos(client: MqttClient, filter: string): Promise<number> {
  try {
    return (await client.subscribeAsync(filter, { qos: 1 }))[0]?.qos ?? NaN;
  } catch (error) {
    const granted = (error as { packet?: { granted?: number[] } }).packet?.granted;
    if (granted === undefined) throw error;
    return granted[0] ?? NaN;
  }
}

Deno.test("the shared meter account cannot publish, read or answer as a meter with its own account", async () => {
  await using env = await setUp();
  const bound = await env.meter(BOUND, BOUND_ACCOUNT);
  const shared = await env.meter(SHARED, SHARED_ACCOUNT);
  try {
    // The bound account and an unbound meter on the shared account both work.
    await bound.publishInstant();
    await shared.publishInstant();
    await env.consumer.waitFor(
      (r) =>
        r.some((m) => m.topic === `kpm33b/${BOUND}/seconds`) &&
        r.some((m) => m.topic === `kpm33b/${SHARED}/seconds`),
      "readings of the bound and the shared-account meter",
    );
    await until(() => bound.commands.length >= 2, "the bound meter configured", 15_000);
  } finally {
    await bound.stop();
  }

  // A spoofed reading under the bound id (a client may be closed after a refusal: one per attempt).
  const spoofer = await env.client(SHARED_ACCOUNT, "spoofer");
  const spoofed = JSON.stringify({ id: BOUND, time: shared.meterTime(), zyggl: 99.9 });
  await Promise.race([spoofer.publishAsync("MQTT_RT_DATA", spoofed, { qos: 1 }), sleep(1000)])
    .catch(() => {});
  await spoofer.endAsync(true);

  // The bridge's command to the bound meter (now offline) reaches neither the shared account ...
  const listener = await env.client(SHARED_ACCOUNT, "listener");
  const heard: string[] = [];
  listener.on("message", (topic) => heard.push(topic));
  const relayTopic = `MQTT_TELECTRL_${BOUND.slice(-8)}`;
  assert.equal(await grantedQos(listener, relayTopic), 128);
  const monitor = await env.client(BRIDGE_ACCOUNT, "monitor");
  const commands: Record<string, unknown>[] = [];
  monitor.on("message", (_topic, payload) => commands.push(JSON.parse(payload.toString())));
  await monitor.subscribeAsync(relayTopic, { qos: 1 });
  await env.consumer.publish(`kpm33b/${BOUND}/relay/set`, "ON");
  await until(() => commands.length > 0, "the relay command on the meters' broker");
  // ... nor is a reply to it from the shared account, even one that knows the command.
  const forger = await env.client(SHARED_ACCOUNT, "forger");
  const [command] = commands;
  assert.ok(command !== undefined);
  const reply = JSON.stringify({ id: BOUND, oprid: command.oprid, code: "01", do1: "1" });
  await Promise.race([forger.publishAsync("MQTT_TELECTRL_REP", reply, { qos: 1 }), sleep(1000)])
    .catch(() => {});
  const result = await within(
    (async () => {
      await env.consumer.waitFor(
        (r) => r.some((m) => m.topic === `kpm33b/${BOUND}/relay/result`),
        "the relay result",
        15_000,
      );
      const [message] = env.consumer.on(`kpm33b/${BOUND}/relay/result`);
      assert.ok(message !== undefined);
      return JSON.parse(message.payload);
    })(),
    "the relay result",
    20_000,
  );
  await Promise.all([forger, listener, monitor].map((c) => c.endAsync(true)));
  await shared.stop();

  assert.equal(result.status, "error", JSON.stringify(result));
  assert.deepEqual(heard, []);
  assert.deepEqual(env.consumer.on(`kpm33b/${BOUND}/relay`).filter((m) => m.payload === "ON"), []);
  const boundReadings = env.consumer.on(`kpm33b/${BOUND}/seconds`).map((m) => m.payload);
  assert.equal(boundReadings.length, 1);
  assert.doesNotMatch(boundReadings.join("\n"), /99\.9/);
  // Each refusal is logged naming the account the id or topics belong to.
  assert.equal(warnings(env.bridge, "Refused publish").length, 2);
  assert.equal(warnings(env.bridge, "Refused subscription").length, 1);
  assert.match(
    String(warnings(env.bridge, "Refused publish")[0]?.message),
    /payload id 33B1225950027 is bound to account panel-a; account meter may not use it/,
  );
});

Deno.test("a 300 KB publish closes only that meter's connection; another meter's readings go on arriving", async () => {
  await using env = await setUp();
  const steady = await env.meter(SHARED, SHARED_ACCOUNT);
  try {
    await steady.publishInstant();
    await env.consumer.waitFor(
      (r) => r.filter((m) => m.topic === `kpm33b/${SHARED}/seconds`).length === 1,
      "the first reading",
    );
    const big = await env.client(BOUND_ACCOUNT, "big-sender");
    const closed = new Promise<void>((resolve) => big.once("close", () => resolve()));
    const payload = JSON.stringify({ id: BOUND, padding: "x".repeat(300_000) });
    big.publish("MQTT_RT_DATA", payload, { qos: 1 });
    await within(closed, "the broker closing the oversized publisher's connection");
    await big.endAsync(true);
    // A second reading needs a later meter time: the bridge drops repeats.
    await sleep(1100);
    await steady.publishInstant();
    await env.consumer.waitFor(
      (r) => r.filter((m) => m.topic === `kpm33b/${SHARED}/seconds`).length === 2,
      "the steady meter's next reading",
    );
  } finally {
    await steady.stop();
  }
  const closedLines = warnings(env.bridge, "Closed the connection");
  assert.equal(closedLines.length, 1);
  assert.match(
    String(closedLines[0]?.message),
    /^Closed the connection of client "big-sender" \(user "panel-a"\): its PUBLISH packet of \d+ bytes exceeds limits\.max_payload_bytes \(65536\)/,
  );
});
