import assert from "node:assert/strict";
import mqtt, { type IPublishPacket } from "mqtt";
import { deferAcks } from "../../src/mqtt/deferred_ack.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { until } from "../helpers/wait.ts";

interface Delivery {
  readonly payload: string;
  readonly dup: boolean;
  readonly messageId: number | undefined;
  readonly ack: () => void;
}

/** A persistent-session subscriber whose PUBACKs are deferred. */
async function subscriber(url: string, clientId: string) {
  // Installed before the CONNACK: a resumed session's messages follow it at once.
  const client = mqtt.connect(url, { clientId, clean: false, reconnectPeriod: 0 });
  const deliveries: Delivery[] = [];
  /** Message ids of the PUBACKs the client wrote, in order. */
  const pubacks: number[] = [];
  client.on("packetsend", (packet) => {
    if (packet.cmd === "puback" && packet.messageId !== undefined) pubacks.push(packet.messageId);
  });
  deferAcks(client, (packet: IPublishPacket, ack) => {
    deliveries.push({
      payload: String(packet.payload),
      dup: packet.dup,
      messageId: packet.messageId,
      ack,
    });
  });
  await new Promise((resolve) => client.once("connect", resolve));
  await client.subscribeAsync("readings", { qos: 1 });
  return { client, deliveries, pubacks };
}

/** Returns once the broker has handled everything the client sent before (one round trip). */
async function roundTrip(client: mqtt.MqttClient): Promise<void> {
  await client.publishAsync("sync", "", { qos: 1 });
}

Deno.test("deferred PUBACKs: messages keep flowing, and unacknowledged ones come back with DUP on the next session", async () => {
  await using broker = await startMosquitto();
  const first = await subscriber(broker.url, "deferred-ack-test");
  const publisher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  try {
    for (const n of ["1", "2", "3"]) await publisher.publishAsync("readings", n, { qos: 1 });
    // All three arrive although none is acknowledged yet: reading is not held up.
    await until(() => first.deliveries.length === 3, "three deliveries");
    const [one, two] = first.deliveries;
    assert.ok(one !== undefined && two !== undefined);
    one.ack();
    one.ack(); // a second call is harmless
    // Let the PUBACK reach the broker before the connection goes.
    await first.client.publishAsync("sync", "", { qos: 1 });
    const staleAck = two.ack;
    await first.client.endAsync(true);
    staleAck(); // from a closed connection: must not be sent on the next one

    const second = await subscriber(broker.url, "deferred-ack-test");
    try {
      await until(() => second.deliveries.length === 2, "redelivery of 2 and 3");
      assert.deepEqual(
        second.deliveries.map((d) => [d.payload, d.dup]),
        [["2", true], ["3", true]],
      );
      second.deliveries.forEach((d) => d.ack());
      await second.client.publishAsync("sync", "", { qos: 1 });
    } finally {
      await second.client.endAsync(true);
    }
    const third = await subscriber(broker.url, "deferred-ack-test");
    try {
      await publisher.publishAsync("readings", "4", { qos: 1 });
      await until(() => third.deliveries.length >= 1, "the next reading");
      assert.deepEqual(
        third.deliveries.map((d) => d.payload),
        ["4"],
        "acknowledged ones stay gone",
      );
    } finally {
      await third.client.endAsync(true);
    }
  } finally {
    await publisher.endAsync();
  }
});

Deno.test("deferred PUBACKs: QoS 0 messages are delivered with an ack that does nothing", async () => {
  await using broker = await startMosquitto();
  const { client, deliveries } = await subscriber(broker.url, "deferred-ack-qos0");
  const publisher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  try {
    await publisher.publishAsync("readings", "q0", { qos: 0 });
    await until(() => deliveries.length === 1, "the QoS 0 message");
    deliveries[0]!.ack();
    assert.equal(deliveries[0]?.dup, false);
  } finally {
    await publisher.endAsync();
    await client.endAsync(true);
  }
});

Deno.test("deferred PUBACKs leave in arrival order, so the broker's queue keeps the messages' order", async () => {
  // Mosquitto sends at most 20 messages unacknowledged (its default) and queues the rest.
  await using broker = await startMosquitto();
  const { client, deliveries, pubacks } = await subscriber(broker.url, "deferred-ack-order");
  const publisher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  try {
    for (let n = 0; n < 100; n++) await publisher.publishAsync("readings", String(n), { qos: 1 });
    await until(() => deliveries.length === 20, "the first 20 deliveries");
    deliveries[0]?.ack();
    await roundTrip(client);
    // Acknowledged before the earlier ones: its PUBACK waits for theirs. Sent at once, it would
    // free a slot in Mosquitto 2.0.11 that the next message takes ahead of the queued ones.
    deliveries.at(-1)!.ack();
    await roundTrip(client);
    await publisher.publishAsync("readings", "100", { qos: 1 });
    // The rest, acknowledged last to first, and each newly arriving message at once.
    for (const delivery of deliveries.toReversed()) delivery.ack();
    let acked = deliveries.length;
    await until(() => {
      for (const delivery of deliveries.slice(acked)) delivery.ack();
      acked = deliveries.length;
      return deliveries.length >= 101 && pubacks.length >= 101;
    }, () => `all 101 messages and their PUBACKs (${deliveries.length}, ${pubacks.length})`);
    assert.deepEqual(
      deliveries.map((d) => d.payload),
      Array.from({ length: 101 }, (_, n) => String(n)),
      "delivered in the order published",
    );
    assert.deepEqual(pubacks, deliveries.map((d) => d.messageId), "PUBACKs in arrival order");
  } finally {
    await publisher.endAsync();
    await client.endAsync(true);
  }
});
