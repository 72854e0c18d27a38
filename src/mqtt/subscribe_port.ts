/**
 * Subscribing, as the bridge's parts use it: subscribe to filters with QoS 1
 * and learn which ones the broker refused. The real one wraps an mqtt.js
 * client; tests pass a fake.
 *
 * @module
 */
import type { MqttClient } from "mqtt";

/** The outcome of one subscribe: an error, or the filters the broker refused (maybe none). */
export interface SubscribeResult {
  readonly error?: Error;
  readonly refused: readonly string[];
}

/** Subscribing on a broker. */
export interface SubscribePort {
  /** Subscribes to `filters` with QoS 1; `done` follows the broker's answer. */
  subscribe(filters: readonly string[], done: (result: SubscribeResult) => void): void;
}

/** MQTT's SUBACK return code of a refused filter. */
const REFUSED = 128;

/** The port over an mqtt.js client. */
export function mqttSubscribePort(client: MqttClient): SubscribePort {
  return {
    subscribe: (filters, done) =>
      client.subscribe([...filters], { qos: 1 }, (error, granted) =>
        done({
          ...(error ? { error } : {}),
          refused: granted?.filter((g) => g.qos === REFUSED).map((g) => g.topic) ?? [],
        })),
  };
}
