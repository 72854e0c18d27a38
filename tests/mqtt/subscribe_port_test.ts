import assert from "node:assert/strict";
import type { MqttClient } from "mqtt";
import { mqttSubscribePort, type SubscribeResult } from "../../src/mqtt/subscribe_port.ts";

type Callback = (error: Error | null, granted?: { topic: string; qos: number }[]) => void;

/** An mqtt.js client whose subscribe answers with what the test gives. */
function fakeClient(error: Error | null, granted?: { topic: string; qos: number }[]) {
  const calls: { filters: string[]; options: unknown }[] = [];
  const client = {
    subscribe(filters: string[], options: unknown, callback: Callback) {
      calls.push({ filters, options });
      callback(error, granted);
    },
  } as unknown as MqttClient;
  return { client, calls };
}

Deno.test("subscribes with QoS 1 and reports the filters granted 128 as refused", () => {
  const { client, calls } = fakeClient(null, [
    { topic: "a/#", qos: 1 },
    { topic: "b/#", qos: 128 },
  ]);
  const results: SubscribeResult[] = [];
  mqttSubscribePort(client).subscribe(["a/#", "b/#"], (result) => results.push(result));
  assert.deepEqual(calls, [{ filters: ["a/#", "b/#"], options: { qos: 1 } }]);
  assert.deepEqual(results, [{ refused: ["b/#"] }]);
});

Deno.test("an error is passed on, with no refused filters when nothing was granted", () => {
  const error = new Error("client disconnecting");
  const { client } = fakeClient(error);
  const results: SubscribeResult[] = [];
  mqttSubscribePort(client).subscribe(["a/#"], (result) => results.push(result));
  assert.deepEqual(results, [{ error, refused: [] }]);
});
