/**
 * The gated Mosquitto of the fault-injection tests: `admit` tells from when a
 * newly admitted client may be connected, so a test that waits for what that
 * client does next never takes an early arrival for a missing one.
 */
import assert from "node:assert/strict";
import mqtt, { type MqttClient } from "mqtt";
import { type Account, GatedMosquitto } from "../helpers/gated_mosquitto.ts";

const KEEPER: Account = { username: "keeper", password: "keeper-secret" };
const LATECOMER: Account = { username: "latecomer", password: "latecomer-secret" };

/** Connects as `account`, retrying at once after each refusal, until `deadline`. */
async function connectWhenAdmitted(
  url: string,
  account: Account,
  deadline: number,
): Promise<{ client: MqttClient; at: number }> {
  while (true) {
    try {
      const client = await mqtt.connectAsync(url, {
        ...account,
        clientId: `latecomer-${crypto.randomUUID().slice(0, 8)}`,
        reconnectPeriod: 0,
        connectTimeout: 5000,
      });
      return { client, at: Date.now() };
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(`${account.username} was never admitted: ${error}`);
      }
    }
  }
}

Deno.test("gated mosquitto: admit returns a time no later than the first connection it allows", async () => {
  await using broker = await GatedMosquitto.start([KEEPER]);
  const connecting = connectWhenAdmitted(broker.url, LATECOMER, Date.now() + 20_000);
  // The latecomer is refused a while before it is admitted.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const admittedAt = await broker.admit([KEEPER, LATECOMER]);
  const { client, at } = await connecting;
  await client.endAsync();
  assert.ok(
    at >= admittedAt,
    `the latecomer connected at ${at}, ${
      admittedAt - at
    } ms before the admission time ${admittedAt}`,
  );
});
