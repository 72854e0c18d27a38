/**
 * The embedded meters' broker acknowledges a meter's QoS 1 message only once
 * the bridge's persistent session acknowledged its copy: a real
 * `EmbeddedBroker` on a free loopback port, real mqtt.js clients. The bridge's
 * subscriber acknowledges when the test says so (`deferAcks`, as the proxy
 * does once a reading is in its outbox).
 */
import assert from "node:assert/strict";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { AccessPolicy } from "../../src/broker/access_policy.ts";
import { EmbeddedBroker, type EmbeddedBrokerOptions } from "../../src/broker/embedded_broker.ts";
import { Config } from "../../src/config/schema.ts";
import { logger } from "../../src/logging/setup.ts";
import { deferAcks } from "../../src/mqtt/deferred_ack.ts";
import { freePort } from "../helpers/ports.ts";
import { sleep, until } from "../helpers/wait.ts";

const BRIDGE = { username: "bridge", password: "bridge-secret" };
/** Long enough for a PUBACK that is not held to arrive many times over. */
const NOT_YET_MS = 300;

/** An embedded broker; with `meters` (the default) the meters' broker, with its access rules. */
async function startBroker(
  options: Partial<EmbeddedBrokerOptions> & { meters?: boolean } = {},
) {
  const { meters = true, ...rest } = options;
  const port = freePort();
  const config = Config.parse({ internal_broker: { url: "mqtt://127.0.0.1:1" } });
  const broker = await EmbeddedBroker.start({
    name: meters ? "internal" : "central",
    host: "127.0.0.1",
    port,
    policy: meters
      ? new AccessPolicy(config.internal_broker.meter_auth, { ...BRIDGE, clientIdPrefix: "bridge" })
      : undefined,
    log: logger("broker", "internal"),
    ...rest,
  });
  return {
    broker,
    url: `mqtt://127.0.0.1:${port}`,
    [Symbol.asyncDispose]: () => broker.stop(),
  };
}

/** A received message and its acknowledgement, sent when the test calls `ack`. */
interface Delivery {
  readonly topic: string;
  readonly payload: string;
  readonly ack: () => void;
}

/**
 * A bridge client that acknowledges what it receives when told to, or with
 * `autoAck` a moment after it arrives (as the proxy does once it stored it).
 */
class Subscriber implements AsyncDisposable {
  readonly received: Delivery[] = [];
  /** Payloads acknowledged so far. */
  readonly acknowledged = new Set<string>();
  autoAck = false;

  private constructor(readonly client: MqttClient) {}

  /** Connects (persistent session unless `clean`) and subscribes to `filters` with QoS 1. */
  static async connect(
    url: string,
    clientId: string,
    filters: string[],
    options: IClientOptions = {},
  ): Promise<Subscriber> {
    const client = mqtt.connect(url, {
      clientId,
      clean: false,
      reconnectPeriod: 0,
      protocolVersion: 4,
      ...BRIDGE,
      ...options,
    });
    const subscriber = new Subscriber(client);
    // Before the CONNACK: a persistent session hands its queue over right after it.
    deferAcks(client, (packet, sendAck) => {
      const payload = packet.payload.toString();
      const ack = () => {
        subscriber.acknowledged.add(payload);
        sendAck();
      };
      subscriber.received.push({ topic: packet.topic, payload, ack });
      if (subscriber.autoAck) setTimeout(ack, 1);
    });
    await new Promise<void>((resolve, reject) => {
      client.once("connect", () => resolve());
      client.once("error", reject);
    });
    if (filters.length > 0) await client.subscribeAsync(filters, { qos: 1 });
    return subscriber;
  }

  /** Payloads received on `topic`, in order. */
  payloads(topic = "MQTT_RT_DATA"): string[] {
    return this.received.filter((d) => d.topic === topic).map((d) => d.payload);
  }

  /** Acknowledges the `i`th message received; the test fails when there is none. */
  ack(i: number): void {
    const delivery = this.received[i];
    assert.ok(delivery !== undefined, `message ${i} was received`);
    delivery.ack();
  }

  /** Acknowledges everything received so far. */
  ackAll(): void {
    for (const delivery of this.received) delivery.ack();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** A meter: anonymous (the broker has no meter password), clean session unless told otherwise. */
async function meter(url: string, options: IClientOptions = {}) {
  const client = await mqtt.connectAsync(url, {
    clientId: `meter-${crypto.randomUUID().slice(0, 8)}`,
    reconnectPeriod: 0,
    protocolVersion: 4,
    ...options,
  });
  return Object.assign(client, { [Symbol.asyncDispose]: () => client.endAsync(true) });
}

/**
 * Publishes with QoS 1; `acked` tells whether the PUBACK arrived, `done`
 * resolves then (or rejects when the client ends before; `failed` is set).
 */
function publish(client: MqttClient, payload: string, topic = "MQTT_RT_DATA") {
  const state = { acked: false, failed: false, done: Promise.resolve() };
  state.done = client.publishAsync(topic, payload, { qos: 1 }).then(() => {
    state.acked = true;
  });
  state.done.catch(() => state.failed = true);
  return state;
}

Deno.test("a meter's PUBACK waits for the bridge's acknowledgement and follows it", async () => {
  await using broker = await startBroker();
  await using proxy = await Subscriber.connect(broker.url, "bridge-proxy", ["MQTT_RT_DATA"]);
  // Like the config sender: a clean session, which is not waited for.
  await using watcher = await Subscriber.connect(broker.url, "bridge-config", ["#"], {
    clean: true,
  });
  await using m = await meter(broker.url);

  const reading = publish(m, '{"id":"33B1225950027","n":1}');
  await until(() => proxy.received.length === 1, "the copy at the bridge");
  await until(() => watcher.received.length === 1, "the copy at the clean session");
  await sleep(NOT_YET_MS);
  assert.equal(reading.acked, false, "PUBACK before the bridge acknowledged");
  assert.equal(broker.broker.acks?.held, 1);

  proxy.ack(0);
  await until(() => reading.acked, "the PUBACK after the bridge's", 2000);
  assert.equal(broker.broker.acks?.held, 0);
  await sleep(NOT_YET_MS);
  // One copy each: aedes's own publication after its PUBACK reached nobody.
  assert.deepEqual(proxy.payloads(), ['{"id":"33B1225950027","n":1}']);
  assert.deepEqual(watcher.received.map((d) => d.topic), ["MQTT_RT_DATA"]);
});

Deno.test("with no session of the bridge subscribed, a meter is acknowledged at once", async () => {
  await using broker = await startBroker();
  await using proxy = await Subscriber.connect(broker.url, "bridge-proxy", ["MQTT_ENY_NOW"]);
  await using m = await meter(broker.url);
  const started = performance.now();
  await m.publishAsync("MQTT_RT_DATA", "{}", { qos: 1 });
  assert.ok(performance.now() - started < NOT_YET_MS, "the PUBACK was held");
  assert.equal(proxy.received.length, 0);
});

Deno.test("the bridge's own publishes, QoS 0 and a broker without access rules are not held", async () => {
  await using meters = await startBroker();
  await using proxy = await Subscriber.connect(meters.url, "bridge-proxy", ["MQTT_RT_DATA"]);
  const bridge = await meter(meters.url, { ...BRIDGE, clientId: "bridge-config" });
  await using _bridge = bridge;
  await bridge.publishAsync("MQTT_RT_DATA", "from the bridge", { qos: 1 });
  await using m = await meter(meters.url);
  await m.publishAsync("MQTT_RT_DATA", "qos 0", { qos: 0 });
  await until(() => proxy.received.length === 2, "both messages");

  await using central = await startBroker({ meters: false });
  await using consumer = await Subscriber.connect(central.url, "consumer", ["kpm33b/#"]);
  await using publisher = await meter(central.url);
  const started = performance.now();
  await publisher.publishAsync("kpm33b/x/seconds", "{}", { qos: 1 });
  assert.ok(performance.now() - started < NOT_YET_MS, "the central broker held a PUBACK");
  assert.equal(central.broker.acks, undefined);
  await until(() => consumer.received.length === 1, "the message on central");
});

Deno.test("while the bridge's session is offline the PUBACK waits until it is back and acknowledges", async () => {
  await using broker = await startBroker();
  const first = await Subscriber.connect(broker.url, "bridge-proxy", ["MQTT_RT_DATA"]);
  await first.client.endAsync();
  await using m = await meter(broker.url);

  const reading = publish(m, "while away");
  await sleep(NOT_YET_MS);
  assert.equal(reading.acked, false, "PUBACK while the bridge's session was offline");
  await using proxy = await Subscriber.connect(broker.url, "bridge-proxy", []);
  await until(() => proxy.received.length === 1, "the queued copy");
  await sleep(NOT_YET_MS);
  assert.equal(reading.acked, false, "PUBACK before the returning bridge acknowledged");
  proxy.ackAll();
  await until(() => reading.acked, "the PUBACK", 2000);
  assert.deepEqual(proxy.payloads(), ["while away"]);
});

Deno.test("a session created at start keeps what meters send before its client first connects", async () => {
  await using broker = await startBroker({
    sessions: [{ clientId: "bridge-proxy", filters: ["MQTT_RT_DATA", "MQTT_ENY_NOW"] }],
  });
  await using m = await meter(broker.url);
  const payloads = Array.from({ length: 50 }, (_, i) => `early ${i}`);
  const readings = payloads.map((payload) => publish(m, payload));
  await sleep(NOT_YET_MS);
  assert.equal(readings.filter((r) => r.acked).length, 0, "PUBACKs before the bridge connected");

  await using proxy = await Subscriber.connect(broker.url, "bridge-proxy", []);
  await until(() => proxy.received.length === payloads.length, "the queued copies");
  assert.deepEqual(proxy.payloads(), payloads, "order kept");
  proxy.ackAll();
  await Promise.all(readings.map((r) => r.done));
});

Deno.test("order is kept per meter, and each PUBACK follows the bridge's acknowledgement", async () => {
  await using broker = await startBroker();
  await using proxy = await Subscriber.connect(broker.url, "bridge-proxy", ["MQTT_RT_DATA"]);
  await using a = await meter(broker.url);
  await using b = await meter(broker.url);
  proxy.autoAck = true;
  const early: string[] = [];
  const sent = { a: [] as string[], b: [] as string[] };
  const readings: Promise<void>[] = [];
  for (let i = 0; i < 1000; i++) {
    for (const [name, client] of [["a", a], ["b", b]] as const) {
      const payload = `${name} ${i}`;
      sent[name].push(payload);
      readings.push(
        client.publishAsync("MQTT_RT_DATA", payload, { qos: 1 }).then(() => {
          if (!proxy.acknowledged.has(payload)) early.push(payload);
        }),
      );
    }
  }
  await Promise.all(readings);
  const received = proxy.payloads();
  assert.deepEqual(received.filter((p) => p.startsWith("a ")), sent.a);
  assert.deepEqual(received.filter((p) => p.startsWith("b ")), sent.b);
  assert.deepEqual(early, [], "PUBACKs before the bridge acknowledged");
  assert.equal(broker.broker.acks?.held, 0);
});

Deno.test("a meter that disconnects while its messages wait leaves nothing behind", async () => {
  await using broker = await startBroker();
  await using proxy = await Subscriber.connect(broker.url, "bridge-proxy", ["MQTT_RT_DATA"]);
  const m = await meter(broker.url);
  for (let i = 0; i < 20; i++) publish(m, `${i}`);
  await until(() => broker.broker.acks?.held === 20, "20 messages waiting");
  await m.endAsync(true);
  await until(() => broker.broker.acks?.held === 0, "the waiting messages forgotten");
  // Acknowledgements of copies nobody waits for any more change nothing.
  await until(() => proxy.received.length === 20, "every copy");
  proxy.ackAll();
  await sleep(NOT_YET_MS);
  assert.equal(broker.broker.acks?.held, 0);
});

Deno.test("a meter's resend after a reconnect is forwarded again and acknowledged", async () => {
  await using broker = await startBroker();
  await using proxy = await Subscriber.connect(broker.url, "bridge-proxy", ["MQTT_RT_DATA"]);
  const m = await meter(broker.url, {
    clientId: "meter-resend",
    clean: false,
    reconnectPeriod: 100,
  });
  await using _m = m;
  const reading = publish(m, "resent");
  await until(() => proxy.received.length === 1, "the first copy");
  // The connection drops before the PUBACK; mqtt.js sends the message again (DUP) on reconnect.
  m.stream.destroy();
  await until(() => proxy.received.length === 2, "the resent copy");
  assert.deepEqual(proxy.received.map((d) => d.payload), ["resent", "resent"]);
  proxy.ack(0);
  await sleep(NOT_YET_MS);
  assert.equal(reading.acked, false, "the first connection's copy answered the resend");
  proxy.ack(1);
  await until(() => reading.acked, "the PUBACK of the resend", 2000);
  assert.equal(broker.broker.acks?.held, 0);
});

/** MQTT 3.1.1 remaining length. */
function varint(n: number): number[] {
  const bytes = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 128;
    bytes.push(byte);
  } while (n > 0);
  return bytes;
}

/** `[length, bytes]` of an MQTT string. */
function utf8(text: string): number[] {
  const bytes = new TextEncoder().encode(text);
  return [bytes.length >> 8, bytes.length & 255, ...bytes];
}

Deno.test("a retransmission (DUP) on the same connection is answered with the message it repeats", async () => {
  await using broker = await startBroker();
  await using proxy = await Subscriber.connect(broker.url, "bridge-proxy", ["MQTT_RT_DATA"]);
  // mqtt.js resends only after a reconnect; some meters resend on the same connection.
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: new URL(broker.url).port as never,
  });
  using _conn = conn;
  const connect = [0, 4, ..."MQTT"].map((c) => typeof c === "string" ? c.charCodeAt(0) : c)
    .concat([4, 2, 0, 60], utf8("meter-raw"));
  const publishPacket = (dup: boolean) => {
    const body = [...utf8("MQTT_RT_DATA"), 0, 7, ...new TextEncoder().encode("once")];
    return [0x32 | (dup ? 8 : 0), ...varint(body.length), ...body];
  };
  const incoming: number[] = [];
  const reading = (async () => {
    const buffer = new Uint8Array(1024);
    while (true) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) return;
      incoming.push(...buffer.subarray(0, n));
    }
  })();
  await conn.write(new Uint8Array([0x10, ...varint(connect.length), ...connect]));
  await until(() => incoming.length >= 4, "the CONNACK");
  assert.deepEqual(incoming.splice(0, 4), [0x20, 2, 0, 0]);

  await conn.write(new Uint8Array(publishPacket(false)));
  await until(() => proxy.received.length === 1, "the copy");
  await conn.write(new Uint8Array(publishPacket(true)));
  await sleep(NOT_YET_MS);
  assert.equal(proxy.received.length, 1, "the retransmission was forwarded again");
  assert.deepEqual(incoming, [], "PUBACK before the bridge acknowledged");
  proxy.ack(0);
  await until(() => incoming.length >= 8, "a PUBACK for the message and one for its repeat");
  assert.deepEqual(incoming, [0x40, 2, 0, 7, 0x40, 2, 0, 7]);
  conn.close();
  await reading;
  await until(() => broker.broker.acks?.held === 0, "nothing waiting");
});

Deno.test("beyond the bound meters are acknowledged at once; the held ones still wait", async () => {
  await using broker = await startBroker({ maxHeldAcks: 3 });
  await using proxy = await Subscriber.connect(broker.url, "bridge-proxy", ["MQTT_RT_DATA"]);
  await using m = await meter(broker.url);
  const readings = Array.from({ length: 5 }, (_, i) => publish(m, `${i}`));
  await until(() => readings.filter((r) => r.acked).length === 2, "the two beyond the bound");
  assert.deepEqual(readings.map((r) => r.acked), [false, false, false, true, true]);
  assert.equal(broker.broker.acks?.held, 3);
  assert.equal(broker.broker.acks?.answeredEarly, 2);
  await until(() => proxy.received.length === 5, "every message");
  assert.deepEqual(proxy.payloads(), ["0", "1", "2", "3", "4"], "order kept");
  proxy.ackAll();
  await Promise.all(readings.map((r) => r.done));
});

Deno.test("a message waits at most maxAckWaitMs: a meter is not held up while the proxy is away", async () => {
  await using broker = await startBroker({ maxAckWaitMs: 400 });
  const first = await Subscriber.connect(broker.url, "bridge-proxy", ["MQTT_RT_DATA"]);
  await first.client.endAsync();
  await using m = await meter(broker.url);
  const reading = publish(m, "proxy away");
  await sleep(150);
  assert.equal(reading.acked, false, "PUBACK before the wait was over");
  await until(() => reading.acked, "the PUBACK after the wait", 3000);
  assert.equal(broker.broker.acks?.held, 0);
  assert.equal(broker.broker.acks?.answeredEarly, 1);
  // The message is still queued for the bridge's session and reaches it when it is back.
  await using proxy = await Subscriber.connect(broker.url, "bridge-proxy", []);
  await until(() => proxy.received.length === 1, "the queued copy");
  assert.deepEqual(proxy.payloads(), ["proxy away"]);
  // A late acknowledgement of an answered message changes nothing.
  proxy.ackAll();
  await sleep(100);
  assert.equal(broker.broker.acks?.answeredEarly, 1);
});

Deno.test("when the bridge's session ends (clean reconnect) nothing waits for it any more", async () => {
  await using broker = await startBroker();
  const first = await Subscriber.connect(broker.url, "bridge-proxy", ["MQTT_RT_DATA"]);
  await first.client.endAsync();
  await using m = await meter(broker.url);
  const reading = publish(m, "for an ended session");
  await sleep(NOT_YET_MS);
  assert.equal(reading.acked, false);
  await using _clean = await Subscriber.connect(broker.url, "bridge-proxy", [], { clean: true });
  await until(() => reading.acked, "the PUBACK once the session ended", 2000);
  assert.equal(broker.broker.acks?.held, 0);
});
