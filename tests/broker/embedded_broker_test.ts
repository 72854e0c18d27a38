import assert from "node:assert/strict";
import mqtt from "mqtt";
import { AccessPolicy } from "../../src/broker/access_policy.ts";
import { EmbeddedBroker } from "../../src/broker/embedded_broker.ts";
import { Config } from "../../src/config/schema.ts";
import { logger } from "../../src/logging/setup.ts";
import { captureLogs } from "../helpers/log_capture.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { connectPacket, publishPacket } from "../helpers/mqtt_packets.ts";
import { freePort } from "../helpers/ports.ts";
import { sleep, until, within } from "../helpers/wait.ts";
import {
  brokerSecurityContract,
  CONTRACT_AUTH,
  CONTRACT_INTERNAL_BROKER,
  METER_A,
  METER_C,
} from "./broker_security_contract.ts";

/** The meters' broker with the contract's accounts. */
async function meterBroker(maxPayloadBytes?: number) {
  const config = Config.parse({
    internal_broker: { url: "mqtt://127.0.0.1:1", ...CONTRACT_INTERNAL_BROKER },
  });
  const internal = config.internal_broker;
  const port = freePort();
  const broker = await EmbeddedBroker.start({
    name: "internal",
    host: "127.0.0.1",
    port,
    policy: new AccessPolicy(internal.meter_auth, {
      username: internal.username!,
      password: internal.password!,
      clientIdPrefix: "bridge",
    }),
    maxPayloadBytes,
    log: logger("broker", "internal"),
  });
  return {
    broker,
    url: `mqtt://127.0.0.1:${port}`,
    port,
    [Symbol.asyncDispose]: () => broker.stop(),
  };
}

// With the default limits.max_payload_bytes, as the shipped Mosquitto configuration's limit.
brokerSecurityContract("embedded broker", () => meterBroker(65_536), {
  enforcesPayloadId: true,
  refusesSubscriptions: true,
  reservesBridgeClientIds: true,
});

const reading = (id: string, n: number) =>
  JSON.stringify({ id, time: "20260112163900", zyggl: n, isend: "1" });

Deno.test("a publish over limits.max_payload_bytes closes only its client's connection, logged with the key to change", async () => {
  await using logs = await captureLogs();
  await using meters = await meterBroker(65_536);
  await using bridge = await TestClient.connect(meters.url, "bridge-test", CONTRACT_AUTH.bridge);
  await bridge.subscribe("MQTT_RT_DATA");
  await using steady = await TestClient.connect(meters.url, "steady", CONTRACT_AUTH.shared);
  const big = await TestClient.connect(meters.url, "big-sender", CONTRACT_AUTH.meterA);
  big.client.on("error", () => {});
  const closed = new Promise<void>((resolve) => big.client.once("close", () => resolve()));
  big.client.publish("MQTT_RT_DATA", new Uint8Array(300_000) as never, { qos: 1 });
  await within(closed, "the broker closing the connection of the oversized publish");
  // Closed by the broker: ending it waits for nothing.
  await big.client.endAsync(true);
  await steady.publish("MQTT_RT_DATA", reading(METER_C, 1));
  await steady.publish("MQTT_RT_DATA", reading(METER_C, 2));
  await bridge.waitFor((r) => r.length >= 2, "the steady meter's readings");
  assert.deepEqual(bridge.received.map((m) => JSON.parse(m.payload).zyggl), [1, 2]);
  assert.equal(meters.broker.refused.oversized, 1);
  const warnings = logs.lines.filter((l) => l.message.startsWith("Closed the connection"));
  assert.equal(warnings.length, 1);
  assert.equal(
    warnings[0]?.message,
    'Closed the connection of client "big-sender" (user "panel-a"): its PUBLISH packet of ' +
      "300016 bytes exceeds limits.max_payload_bytes (65536) plus 1024 bytes for topic and " +
      "headers; raise limits.max_payload_bytes if meters send larger messages",
  );
});

Deno.test("an oversized packet closes the connection from its header, without waiting for its body", async () => {
  await using meters = await meterBroker(65_536);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: meters.port });
  try {
    await conn.write(
      connectPacket("raw", CONTRACT_AUTH.shared.username, CONTRACT_AUTH.shared.password),
    );
    const connack = new Uint8Array(4);
    assert.equal(await conn.read(connack), 4);
    assert.deepEqual([...connack], [0x20, 2, 0, 0]);
    // The header and the first 4 KiB of a 10 MB publish; the rest is never sent.
    await conn.write(publishPacket(10_000_000).subarray(0, 4096));
    const rest = await within(
      conn.read(new Uint8Array(16)).catch(() => null),
      "the broker closing the connection",
    );
    assert.equal(rest, null, "the broker kept the connection open");
  } finally {
    conn.close();
  }
  await until(() => meters.broker.refused.oversized === 1, "the refusal counted", 5_000);
});

Deno.test("a message larger than the connection's read buffer but within the limit arrives whole", async () => {
  await using meters = await meterBroker(1_000_000);
  await using bridge = await TestClient.connect(meters.url, "bridge-test", CONTRACT_AUTH.bridge);
  await bridge.subscribe("MQTT_RT_DATA");
  const meter = await TestClient.connect(meters.url, "meter-a", CONTRACT_AUTH.meterA);
  try {
    const payload = JSON.stringify({ id: METER_A, padding: "x".repeat(300_000) });
    await within(
      meter.publish("MQTT_RT_DATA", payload),
      "the acknowledgement of the large message",
    );
    await bridge.waitFor((r) => r.length === 1, "the large message");
    assert.equal(bridge.received[0]?.payload, payload);
    assert.equal(meters.broker.refused.oversized, 0);
  } finally {
    // Forced: a publish the broker never acknowledged would keep a graceful end waiting.
    await meter.client.endAsync(true);
  }
});

Deno.test("a port already in use is reported with what to do about it", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: freePort() });
  const { port } = taken.addr as Deno.NetAddr;
  try {
    await assert.rejects(
      EmbeddedBroker.start({
        name: "internal",
        host: "127.0.0.1",
        port,
        log: logger("broker", "internal"),
      }),
      new RegExp(`127\\.0\\.0\\.1:${port} is already in use .*embedded\\.enabled: false`),
    );
  } finally {
    taken.close();
  }
});

Deno.test("stop disconnects connected clients instead of waiting for them to leave", async () => {
  const port = freePort();
  const broker = await EmbeddedBroker.start({
    name: "central",
    host: "127.0.0.1",
    port,
    log: logger("broker", "central"),
  });
  await using client = await TestClient.connect(`mqtt://127.0.0.1:${port}`);
  const disconnected = new Promise<void>((resolve) => client.client.once("close", () => resolve()));
  // A listener's close waits for its open connections: without the broker
  // ending them, stop() would wait for as long as the client stays.
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<"stalled">((resolve) => {
    deadline = setTimeout(() => resolve("stalled"), 30_000);
  });
  try {
    assert.equal(await Promise.race([broker.stop().then(() => "stopped"), stalled]), "stopped");
  } finally {
    clearTimeout(deadline);
  }
  await disconnected;
});

/** The warning, with the users as the log shows them (quoted, or null). */
const TAKEOVER = (user: string, earlier: string) =>
  `Client id "twin" (user ${user}) connected again from another connection; the earlier one ` +
  `(user ${earlier}) is closed — if this repeats, two devices with one client id disconnect ` +
  "each other: give each its own client id";

Deno.test("a client id connecting again is named with both users; two devices sharing it are logged at most 10 times a minute", async () => {
  await using logs = await captureLogs();
  await using meters = await meterBroker();
  const takeovers = () => logs.lines.filter((l) => l.message.startsWith('Client id "twin"'));
  const first = await mqtt.connectAsync(meters.url, {
    clientId: "twin",
    ...CONTRACT_AUTH.shared,
    reconnectPeriod: 50,
  });
  first.on("error", () => {});
  assert.deepEqual(takeovers(), [], "a first connection is no takeover");
  const second = await mqtt.connectAsync(meters.url, {
    clientId: "twin",
    ...CONTRACT_AUTH.meterA,
    reconnectPeriod: 50,
  });
  second.on("error", () => {});
  try {
    await until(() => takeovers().length >= 1, "the takeover named", 5_000);
    assert.equal(takeovers()[0]?.message, TAKEOVER('"panel-a"', '"meter"'));
    // Both reconnect and throw each other out, again and again.
    await until(
      () => takeovers().some((l) => l.message === TAKEOVER('"meter"', '"panel-a"')),
      "the first device taking its id back",
      5_000,
    );
    await until(() => takeovers().length >= 10, "a loop of takeovers", 10_000);
    // The loop of takeovers is cut at 10.
    await sleep(500);
    assert.equal(takeovers().length, 10);
  } finally {
    await Promise.all([first.endAsync(true), second.endAsync(true)]);
  }
});

Deno.test("a broker without access rules names a client id taken over too", async () => {
  await using logs = await captureLogs();
  const port = freePort();
  const broker = await EmbeddedBroker.start({
    name: "central",
    host: "127.0.0.1",
    port,
    log: logger("broker", "central"),
  });
  try {
    const url = `mqtt://127.0.0.1:${port}`;
    await using first = await TestClient.connect(url, "twin");
    first.client.on("error", () => {});
    const closed = new Promise<void>((resolve) => first.client.once("close", () => resolve()));
    await using _second = await TestClient.connect(url, "twin");
    await within(closed, "the earlier connection closed");
    await until(
      () => logs.lines.some((l) => l.message.startsWith('Client id "twin"')),
      "the takeover named",
      5_000,
    );
    assert.deepEqual(
      logs.lines.filter((l) => l.message.startsWith('Client id "twin"')).map((l) => l.message),
      [TAKEOVER("null", "null")],
    );
  } finally {
    await broker.stop();
  }
});
