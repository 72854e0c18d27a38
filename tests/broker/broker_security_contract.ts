/**
 * The security contract of the meters' broker, run against every
 * implementation: the embedded broker and Mosquitto with the shipped files.
 * Both are set up with the same accounts (see `CONTRACT_AUTH`).
 */
import assert from "node:assert/strict";
import mqtt, { type MqttClient } from "mqtt";
import { sleep, until, within } from "../helpers/wait.ts";

/** After the expected messages arrived: long enough for a refused one to show up if it got through. */
const NOTHING_MORE_MS = 300;

/** Accounts every broker under test knows. */
export const CONTRACT_AUTH = {
  bridge: { username: "bridge", password: "bridge-secret" },
  shared: { username: "meter", password: "meter-secret" },
  /** Bound to METER_A. */
  meterA: { username: "panel-a", password: "a-secret" },
  /** Bound to METER_B. */
  meterB: { username: "panel-b", password: "b-secret" },
} as const;

export const METER_A = "33B1225950027";
export const METER_B = "33B1225950028";
/** Has no account of its own and is named nowhere in the configuration: it uses the shared one. */
export const METER_C = "33B1225950029";

/** The `internal_broker` section that yields `CONTRACT_AUTH`. */
export const CONTRACT_INTERNAL_BROKER = {
  username: CONTRACT_AUTH.bridge.username,
  password: CONTRACT_AUTH.bridge.password,
  meter_auth: {
    username: CONTRACT_AUTH.shared.username,
    password: CONTRACT_AUTH.shared.password,
    accounts: {
      [METER_A]: { ...CONTRACT_AUTH.meterA },
      [METER_B]: { ...CONTRACT_AUTH.meterB },
    },
  },
};

/** A broker under test. */
export interface BrokerUnderTest extends AsyncDisposable {
  readonly url: string;
}

/** What an implementation can promise beyond the common rules. */
export interface ContractOptions {
  /** Whether a payload with another meter's `id` is refused for bound accounts. */
  readonly enforcesPayloadId: boolean;
  /**
   * Whether a forbidden subscription is refused in the SUBACK (otherwise it is
   * granted but nothing is delivered).
   */
  readonly refusesSubscriptions: boolean;
  /** Whether client ids starting with the bridge's prefix (`bridge`) are refused to meters. */
  readonly reservesBridgeClientIds: boolean;
}

type Credentials = { username: string; password: string } | undefined;

async function connect(url: string, credentials: Credentials, clientId = "") {
  return await mqtt.connectAsync(url, {
    clientId: clientId || `contract-${crypto.randomUUID().slice(0, 8)}`,
    ...credentials,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    protocolVersion: 4,
  });
}

/** A client that records what it receives; connection errors resolve to the error. */
async function tryConnect(
  url: string,
  credentials: Credentials,
  clientId = "",
): Promise<MqttClient | Error> {
  try {
    return await connect(url, credentials, clientId);
  } catch (error) {
    return error as Error;
  }
}

function recorder(client: MqttClient) {
  const received: { topic: string; payload: string }[] = [];
  client.on("message", (topic, payload) => received.push({ topic, payload: payload.toString() }));
  return received;
}

/** Publishes and ignores a refusal (a broker may drop the message or the connection). */
async function publishQuietly(client: MqttClient, topic: string, payload: string) {
  client.on("error", () => {});
  try {
    await Promise.race([client.publishAsync(topic, payload, { qos: 1 }), sleep(1000)]);
  } catch {
    // refused: that is what is tested
  }
}

/** The QoS a broker grants for a subscription; 128 is a refusal. */
async function grantedQos(client: MqttClient, filter: string): Promise<number> {
  try {
    const granted = await client.subscribeAsync(filter, { qos: 1 });
    return granted[0]?.qos ?? NaN;
  } catch (error) {
    const packet = (error as { packet?: { granted?: number[] } }).packet;
    if (packet?.granted === undefined) throw error;
    return packet.granted[0] ?? NaN;
  }
}

/** Connects with a message recorder attached before CONNACK, so queued messages are seen. */
async function connectRecording(url: string, options: mqtt.IClientOptions) {
  const client = mqtt.connect(url, { reconnectPeriod: 0, protocolVersion: 4, ...options });
  const received = recorder(client);
  await new Promise<void>((resolve, reject) => {
    client.once("connect", () => resolve());
    client.once("error", reject);
  });
  return { client, received };
}

async function end(...clients: (MqttClient | Error)[]) {
  for (const client of clients) {
    if (!(client instanceof Error)) await client.endAsync(true);
  }
}

/** Registers the contract's tests for one implementation. */
export function brokerSecurityContract(
  name: string,
  start: () => Promise<BrokerUnderTest>,
  options: ContractOptions,
): void {
  const test = (title: string, fn: (broker: BrokerUnderTest) => Promise<void>) =>
    Deno.test(`${name}: ${title}`, async () => {
      await using broker = await start();
      await fn(broker);
    });

  test("clients without credentials or with a wrong password are refused", async (broker) => {
    const anonymous = await tryConnect(broker.url, undefined);
    const wrong = await tryConnect(broker.url, { username: "meter", password: "guess" });
    const bridgeWrong = await tryConnect(broker.url, { username: "bridge", password: "guess" });
    try {
      for (const result of [anonymous, wrong, bridgeWrong]) {
        assert.ok(result instanceof Error, "connection was accepted");
        assert.match(result.message, /not authori[sz]ed|bad user ?name or password/i);
      }
    } finally {
      await end(anonymous, wrong, bridgeWrong);
    }
  });

  test("the bridge reaches every meter; a bound meter receives only its own commands", async (broker) => {
    const bridge = await connect(broker.url, CONTRACT_AUTH.bridge);
    const a = await connect(broker.url, CONTRACT_AUTH.meterA);
    const received = recorder(a);
    try {
      assert.equal(await grantedQos(a, `MQTT_SETTIME_${METER_A.slice(-8)}`), 1);
      const other = await grantedQos(a, `MQTT_SETTIME_${METER_B.slice(-8)}`);
      const everything = await grantedQos(a, "#");
      if (options.refusesSubscriptions) {
        assert.equal(other, 128, "subscription to another meter's commands was granted");
        assert.equal(everything, 128, "a meter was allowed to subscribe to #");
      }
      await bridge.publishAsync(`MQTT_SETTIME_${METER_B.slice(-8)}`, '{"oprid":"b"}', { qos: 1 });
      await bridge.publishAsync("MQTT_RT_DATA", '{"id":"33B1225950028"}', { qos: 1 });
      await bridge.publishAsync(`MQTT_SETTIME_${METER_A.slice(-8)}`, '{"oprid":"a"}', { qos: 1 });
      await until(() => received.length > 0, "meter A's own command", 5_000);
      await sleep(NOTHING_MORE_MS);
      assert.deepEqual(received, [{
        topic: `MQTT_SETTIME_${METER_A.slice(-8)}`,
        payload: '{"oprid":"a"}',
      }]);
    } finally {
      await end(a, bridge);
    }
  });

  test("meters may publish uplink topics only", async (broker) => {
    const bridge = await connect(broker.url, CONTRACT_AUTH.bridge);
    const received = recorder(bridge);
    await bridge.subscribeAsync("#", { qos: 1 });
    const shared = await connect(broker.url, CONTRACT_AUTH.shared);
    const bound = await connect(broker.url, CONTRACT_AUTH.meterA);
    try {
      const reading = (id: string) =>
        JSON.stringify({ id, time: "20260112163900", zyggl: 1, isend: "1" });
      await shared.publishAsync("MQTT_RT_DATA", reading(METER_C), { qos: 1 });
      await bound.publishAsync("MQTT_ENY_NOW", reading(METER_A), { qos: 1 });
      await publishQuietly(shared, `MQTT_SETTIME_${METER_C.slice(-8)}`, '{"oprid":"spoof"}');
      await publishQuietly(bound, "kpm33b/33B1225950027/seconds", reading(METER_A));
      await until(() => received.length >= 2, "the two uplink messages", 5_000);
      await sleep(NOTHING_MORE_MS);
      assert.deepEqual(received.map((m) => m.topic).sort(), ["MQTT_ENY_NOW", "MQTT_RT_DATA"]);
    } finally {
      await end(shared, bound, bridge);
    }
  });

  if (options.enforcesPayloadId) {
    test("a bound meter cannot publish a reading under another meter's id", async (broker) => {
      const bridge = await connect(broker.url, CONTRACT_AUTH.bridge);
      const received = recorder(bridge);
      await bridge.subscribeAsync("MQTT_RT_DATA", { qos: 1 });
      const a = await connect(broker.url, CONTRACT_AUTH.meterA);
      const spoofer = await connect(broker.url, CONTRACT_AUTH.meterA);
      try {
        await a.publishAsync("MQTT_RT_DATA", JSON.stringify({ id: METER_A, n: 1 }), { qos: 1 });
        await publishQuietly(spoofer, "MQTT_RT_DATA", JSON.stringify({ id: METER_B, n: 2 }));
        await publishQuietly(spoofer, "MQTT_RT_DATA", "not json");
        await until(() => received.length >= 1, "the honest reading", 5_000);
        await sleep(NOTHING_MORE_MS);
        assert.deepEqual(received.map((m) => JSON.parse(m.payload).id), [METER_A]);
      } finally {
        await end(a, spoofer, bridge);
      }
    });
  }

  test("the shared account reads the commands of a meter named nowhere, not of bound ones", async (broker) => {
    const bridge = await connect(broker.url, CONTRACT_AUTH.bridge);
    const shared = await connect(broker.url, CONTRACT_AUTH.shared);
    const a = await connect(broker.url, CONTRACT_AUTH.meterA);
    const sharedReceived = recorder(shared);
    const aReceived = recorder(a);
    try {
      assert.equal(await grantedQos(shared, `MQTT_TELECTRL_${METER_C.slice(-8)}`), 1);
      const bound = await grantedQos(shared, `MQTT_TELECTRL_${METER_A.slice(-8)}`);
      if (options.refusesSubscriptions) {
        assert.equal(bound, 128, "the shared account may subscribe to a bound meter's commands");
      }
      assert.equal(await grantedQos(a, `MQTT_TELECTRL_${METER_A.slice(-8)}`), 1);
      await bridge.publishAsync(`MQTT_TELECTRL_${METER_A.slice(-8)}`, '{"oprid":"a"}', { qos: 1 });
      await bridge.publishAsync(`MQTT_TELECTRL_${METER_C.slice(-8)}`, '{"oprid":"c"}', { qos: 1 });
      await until(() => sharedReceived.length > 0, "meter C's command", 5_000);
      await until(() => aReceived.length > 0, "meter A's command", 5_000);
      await sleep(NOTHING_MORE_MS);
      assert.deepEqual(sharedReceived.map((m) => m.payload), ['{"oprid":"c"}']);
      assert.deepEqual(aReceived.map((m) => m.payload), ['{"oprid":"a"}']);
    } finally {
      await end(a, shared, bridge);
    }
  });

  test("no meter account reads the readings or replies other meters publish", async (broker) => {
    const bridge = await connect(broker.url, CONTRACT_AUTH.bridge);
    const received = recorder(bridge);
    await bridge.subscribeAsync(["MQTT_RT_DATA", "MQTT_TELECTRL_REP"], { qos: 1 });
    const meter = await connect(broker.url, CONTRACT_AUTH.shared);
    const snoopers = [
      await connect(broker.url, CONTRACT_AUTH.shared),
      await connect(broker.url, CONTRACT_AUTH.meterA),
    ];
    const snooped = snoopers.map(recorder);
    try {
      for (const snooper of snoopers) {
        for (const filter of ["#", "+", "MQTT_RT_DATA", "MQTT_TELECTRL_REP"]) {
          const qos = await grantedQos(snooper, filter);
          if (options.refusesSubscriptions && filter !== "+") assert.equal(qos, 128, filter);
        }
      }
      await meter.publishAsync("MQTT_RT_DATA", JSON.stringify({ id: METER_C, n: 1 }), { qos: 1 });
      await meter.publishAsync(
        "MQTT_TELECTRL_REP",
        JSON.stringify({ id: METER_C, oprid: "x", code: "01", do1: "1" }),
        { qos: 1 },
      );
      await until(() => received.length >= 2, "the reading and the reply at the bridge", 5_000);
      await sleep(NOTHING_MORE_MS);
      assert.deepEqual(snooped, [[], []]);
    } finally {
      await end(meter, ...snoopers, bridge);
    }
  });

  if (options.enforcesPayloadId) {
    test("the shared account cannot publish under a bound meter's id", async (broker) => {
      const bridge = await connect(broker.url, CONTRACT_AUTH.bridge);
      const received = recorder(bridge);
      await bridge.subscribeAsync(["MQTT_RT_DATA", "MQTT_TELECTRL_REP"], { qos: 1 });
      const a = await connect(broker.url, CONTRACT_AUTH.meterA);
      const shared = await connect(broker.url, CONTRACT_AUTH.shared);
      // One client per attempt: a broker may close the connection after a refusal.
      const readingSpoofer = await connect(broker.url, CONTRACT_AUTH.shared);
      const replySpoofer = await connect(broker.url, CONTRACT_AUTH.shared);
      try {
        await publishQuietly(readingSpoofer, "MQTT_RT_DATA", JSON.stringify({ id: METER_A, n: 1 }));
        await publishQuietly(
          replySpoofer,
          "MQTT_TELECTRL_REP",
          JSON.stringify({ id: METER_A, oprid: "x", code: "01", do1: "1" }),
        );
        await shared.publishAsync("MQTT_RT_DATA", JSON.stringify({ id: METER_C, n: 2 }), {
          qos: 1,
        });
        await a.publishAsync("MQTT_RT_DATA", JSON.stringify({ id: METER_A, n: 3 }), { qos: 1 });
        await until(() => received.length >= 2, "the honest readings", 5_000);
        await sleep(NOTHING_MORE_MS);
        assert.deepEqual(received.map((m) => JSON.parse(m.payload).n), [2, 3]);
      } finally {
        await end(a, shared, readingSpoofer, replySpoofer, bridge);
      }
    });
  }

  test("a publish over 64 KiB plus 1 KiB closes only its client's connection", async (broker) => {
    const bridge = await connect(broker.url, CONTRACT_AUTH.bridge);
    const received = recorder(bridge);
    await bridge.subscribeAsync("MQTT_RT_DATA", { qos: 1 });
    const steady = await connect(broker.url, CONTRACT_AUTH.shared);
    const big = await connect(broker.url, CONTRACT_AUTH.meterA);
    try {
      big.on("error", () => {});
      const closed = new Promise<void>((resolve) => big.once("close", () => resolve()));
      big.publish("MQTT_RT_DATA", new Uint8Array(300_000) as never, { qos: 1 });
      await within(closed, "the broker closing the oversized publisher's connection");
      await steady.publishAsync("MQTT_RT_DATA", JSON.stringify({ id: METER_C, n: 1 }), { qos: 1 });
      await until(() => received.length >= 1, "the steady meter's reading", 5_000);
      await sleep(NOTHING_MORE_MS);
      assert.deepEqual(received.map((m) => JSON.parse(m.payload).n), [1]);
    } finally {
      await end(big, steady, bridge);
    }
  });

  test("a meter taking over another meter's session receives none of its commands", async (broker) => {
    const clientId = `meter-${METER_A}`;
    const victim = await connectRecording(broker.url, {
      ...CONTRACT_AUTH.meterA,
      clientId,
      clean: false,
    });
    await victim.client.subscribeAsync(`MQTT_SET_${METER_A.slice(-8)}`, { qos: 1 });
    await victim.client.endAsync();
    const bridge = await connect(broker.url, CONTRACT_AUTH.bridge);
    await bridge.publishAsync(`MQTT_SET_${METER_A.slice(-8)}`, '{"oprid":"for-a"}', { qos: 1 });
    await bridge.endAsync();
    const thief = await connectRecording(broker.url, {
      ...CONTRACT_AUTH.meterB,
      clientId,
      clean: false,
    });
    try {
      // The session's queued messages would arrive right after the connection.
      await sleep(500);
      assert.deepEqual(thief.received, []);
    } finally {
      await thief.client.endAsync();
    }
  });

  if (options.reservesBridgeClientIds) {
    test("a meter cannot connect with the bridge's client id", async (broker) => {
      const result = await tryConnect(broker.url, CONTRACT_AUTH.shared, "bridge-proxy-internal");
      try {
        assert.ok(result instanceof Error, "a meter took the bridge's client id");
        assert.match(result.message, /identifier rejected/i);
      } finally {
        await end(result);
      }
    });
  }

  test("retained messages and a persistent QoS 1 session work", async (broker) => {
    const retainer = await connect(broker.url, CONTRACT_AUTH.bridge);
    await retainer.publishAsync("kpm33b/bridge/state", "online", { qos: 1, retain: true });
    await retainer.endAsync();
    const clientId = `contract-session-${crypto.randomUUID().slice(0, 8)}`;
    const options = { ...CONTRACT_AUTH.bridge, clientId, clean: false };
    const first = await connectRecording(broker.url, options);
    await first.client.subscribeAsync(["kpm33b/bridge/state", "MQTT_RT_DATA"], { qos: 1 });
    await until(
      () => first.received.some((m) => m.payload === "online"),
      "the retained state",
      5_000,
    );
    await first.client.endAsync();
    const meter = await connect(broker.url, CONTRACT_AUTH.shared);
    // The embedded broker acknowledges a meter's reading once the bridge's session has it,
    // which here is when the session's client is back.
    const published = meter.publishAsync(
      "MQTT_RT_DATA",
      JSON.stringify({ id: METER_C, n: 1 }),
      { qos: 1 },
    );
    const { client: consumer, received } = await connectRecording(broker.url, options);
    try {
      await until(
        () => received.some((m) => m.topic === "MQTT_RT_DATA"),
        "the queued reading",
        5_000,
      );
      await published;
    } finally {
      await meter.endAsync(true);
      await consumer.endAsync();
    }
  });
}
