import assert from "node:assert/strict";
import mqtt, { type IPublishPacket } from "mqtt";
import { deferAcks } from "../../src/mqtt/deferred_ack.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { until } from "../helpers/wait.ts";

interface Delivery {
  readonly payload: string;
  readonly dup: boolean;
  readonly ack: () => void;
}

/** A persistent-session subscriber whose PUBACKs are deferred. */
async function subscriber(url: string, clientId: string) {
  // Installed before the CONNACK: a resumed session's messages follow it at once.
  const client = mqtt.connect(url, { clientId, clean: false, reconnectPeriod: 0 });
  const deliveries: Delivery[] = [];
  deferAcks(client, (packet: IPublishPacket, ack) => {
    deliveries.push({ payload: String(packet.payload), dup: packet.dup, ack });
  });
  await new Promise((resolve) => client.once("connect", resolve));
  await client.subscribeAsync("readings", { qos: 1 });
  return { client, deliveries };
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
