/**
 * Mosquitto's own C bridge, the yardstick of the delivery benchmark: a third
 * Mosquitto whose two `connection` bridges pull `MQTT_RT_DATA` and
 * `MQTT_ENY_NOW` from the internal broker and push them to the central broker
 * as `kpm33b/MQTT_RT_DATA` and `kpm33b/MQTT_ENY_NOW`. Only the topic is
 * remapped: Mosquitto cannot put the meter id from the payload into the topic,
 * so its consumers count readings by payload.
 *
 * @module
 */
import { type Mosquitto, startMosquitto } from "../tests/helpers/mosquitto.ts";
import { client, DEEP_QUEUES, within } from "./support.ts";

/** Where the C bridge publishes the raw readings on the central broker. */
export const C_BRIDGE_TOPIC = "kpm33b/MQTT_RT_DATA";
const RAW_TOPICS = ["MQTT_RT_DATA", "MQTT_ENY_NOW"];
const PROBE_TOPIC = "MQTT_ENY_NOW";
const READY_TIMEOUT_MS = 30_000;
const PROBE_EVERY_MS = 250;

/**
 * The bridging Mosquitto's configuration after its listener: stock settings
 * except the deep queues the brokers have too; Nagle stays on (no
 * `set_tcp_nodelay`), as in a stock install. Messages pass through the local
 * `fwd/` prefix from one connection to the other, at QoS 1 on both legs.
 */
export function cBridgeConfig(internalPort: number, centralPort: number): string {
  const connection = (name: string, port: number, direction: string, remote: string) =>
    [
      `connection ${name}`,
      `address 127.0.0.1:${port}`,
      "bridge_protocol_version mqttv311",
      "cleansession true",
      "notifications false",
      "restart_timeout 1",
      ...RAW_TOPICS.map((topic) => `topic ${topic} ${direction} 1 fwd/ ${remote}`),
    ].join("\n");
  return [
    DEEP_QUEUES,
    connection("from_internal", internalPort, "in", `""`),
    connection("to_central", centralPort, "out", "kpm33b/"),
  ].join("\n\n");
}

/** The brokers on both sides of the C bridge. */
export interface CBridgeSetup {
  readonly internal: string;
  readonly central: string;
}

/**
 * Publishes a probe on the internal broker until it arrives on the central
 * one: from then on both of the C bridge's connections are up.
 */
async function forwarding(internal: string, central: string, bridge: Mosquitto): Promise<void> {
  await using consumer = await client(central);
  await using meter = await client(internal);
  const arrived = Promise.withResolvers<void>();
  consumer.on("message", () => arrived.resolve());
  await consumer.subscribeAsync(`kpm33b/${PROBE_TOPIC}`, { qos: 1 });
  const deadline = performance.now() + READY_TIMEOUT_MS;
  do {
    if (performance.now() > deadline) {
      throw new Error(
        `Mosquitto's bridge forwarded nothing within ${
          READY_TIMEOUT_MS / 1000
        } s:\n${bridge.log()}`,
      );
    }
    await meter.publishAsync(PROBE_TOPIC, "probe", { qos: 1 });
  } while (!await within(arrived.promise, PROBE_EVERY_MS));
}

/** Two fresh Mosquittos and the C bridge between them, forwarding; all stopped afterwards. */
export async function withCBridge<T>(measure: (setup: CBridgeSetup) => Promise<T>): Promise<T> {
  await using internal = await startMosquitto(DEEP_QUEUES);
  await using central = await startMosquitto(DEEP_QUEUES);
  await using bridge = await startMosquitto(cBridgeConfig(internal.port, central.port));
  await forwarding(internal.url, central.url, bridge);
  return await measure({ internal: internal.url, central: central.url });
}
