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
 * An `ack` is dropped if the connection that delivered the message has closed
 * since: message ids belong to one connection, and the broker sends the
 * message again (DUP set) on the next one.
 *
 * @module
 */
import type { IPublishPacket, MqttClient } from "mqtt";

/** The callback's error value that means "the PUBACK is sent later". */
const DEFERRED = new Error("PUBACK deferred");

interface PacketWriter {
  _sendPacket(packet: { cmd: "puback"; messageId: number }): void;
}

/**
 * Routes the client's received messages to `onMessage`, each with an `ack`
 * to call once the message is safe; for QoS 0 messages `ack` does nothing.
 */
export function deferAcks(
  client: MqttClient,
  onMessage: (packet: IPublishPacket, ack: () => void) => void,
): void {
  let connection = 0;
  client.on("close", () => connection++);
  client.handleMessage = (packet, callback) => {
    const messageId = packet.messageId;
    if (packet.qos !== 1 || messageId === undefined) {
      onMessage(packet, () => {});
      callback();
      return;
    }
    const deliveredOn = connection;
    let acked = false;
    onMessage(packet, () => {
      if (acked || deliveredOn !== connection || !client.connected) return;
      acked = true;
      (client as unknown as PacketWriter)._sendPacket({ cmd: "puback", messageId });
    });
    callback(DEFERRED);
  };
}
