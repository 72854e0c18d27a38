/**
 * Acknowledging received QoS 1 messages later than mqtt.js would.
 *
 * mqtt.js (MQTT 3.1.1) sends the PUBACK of an incoming QoS 1 message when the
 * client's `handleMessage(packet, callback)` calls back — but it also reads no
 * further packet until then, so holding the callback would take messages one
 * at a time. Here the callback returns at once with a marker error, which
 * makes mqtt.js skip its PUBACK and read on, and the PUBACK is sent when the
 * message's `ack` is called.
 *
 * PUBACKs leave in the order the messages arrived, whatever order their
 * `ack`s are called in: an `ack` waits for those of all earlier messages
 * (MQTT 3.1.1 §4.6). A broker may rely on it: Mosquitto up to 2.0.12 lets a
 * new message overtake those it queued for the client after an out-of-order
 * PUBACK, which hands a meter's readings over out of order.
 *
 * An `ack` is dropped if the connection that delivered the message has closed
 * since: message ids belong to one connection, and the broker sends the
 * message again (DUP set) on the next one.
 *
 * @module
 */
import type { IPublishPacket, MqttClient } from "mqtt";

/** The callback's error value that means "the PUBACK is sent later". */
const DEFERRED = new Error("PUBACK deferred");

/** Acknowledged entries at the head of a queue are compacted away beyond this many. */
const COMPACT_AFTER = 1024;

interface PacketWriter {
  _sendPacket(packet: { cmd: "puback"; messageId: number }): void;
}

interface Delivery {
  readonly messageId: number;
  acked: boolean;
}

/** The QoS 1 messages of one connection whose PUBACK is not sent yet, in arrival order. */
class AckQueue {
  readonly #deliveries: Delivery[] = [];
  #head = 0;

  constructor(readonly send: (messageId: number) => void) {}

  add(messageId: number): Delivery {
    const delivery = { messageId, acked: false };
    this.#deliveries.push(delivery);
    return delivery;
  }

  /** Marks the delivery acknowledged and sends every PUBACK no earlier message holds back. */
  ack(delivery: Delivery): void {
    delivery.acked = true;
    const deliveries = this.#deliveries;
    for (let next = deliveries[this.#head]; next?.acked; next = deliveries[++this.#head]) {
      this.send(next.messageId);
    }
    if (this.#head === deliveries.length || this.#head > COMPACT_AFTER) {
      deliveries.splice(0, this.#head);
      this.#head = 0;
    }
  }
}

/**
 * Routes the client's received messages to `onMessage`, each with an `ack`
 * to call once the message is safe; for QoS 0 messages `ack` does nothing.
 */
export function deferAcks(
  client: MqttClient,
  onMessage: (packet: IPublishPacket, ack: () => void) => void,
): void {
  const send = (messageId: number) =>
    (client as unknown as PacketWriter)._sendPacket({ cmd: "puback", messageId });
  let queue = new AckQueue(send);
  client.on("close", () => queue = new AckQueue(send));
  client.handleMessage = (packet, callback) => {
    const messageId = packet.messageId;
    if (packet.qos !== 1 || messageId === undefined) {
      onMessage(packet, () => {});
      callback();
      return;
    }
    const deliveredOn = queue;
    const delivery = deliveredOn.add(messageId);
    onMessage(packet, () => {
      if (delivery.acked || deliveredOn !== queue || !client.connected) return;
      deliveredOn.ack(delivery);
    });
    callback(DEFERRED);
  };
}
