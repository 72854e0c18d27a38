import assert from "node:assert/strict";
import fc from "fast-check";
import { PacketLengthScanner } from "../../src/broker/packet_length_scanner.ts";
import {
  concatBytes as concat,
  connectPacket,
  mqttPacket as packet,
  publishPacket as publish,
  utf8Field as utf8,
} from "../helpers/mqtt_packets.ts";

const CONNECT = connectPacket("meter-1", "meter", "pw");
const PINGREQ = new Uint8Array([0xc0, 0]);

Deno.test("packets within the limit pass, however the bytes are split", () => {
  const stream = concat(CONNECT, publish(1000), PINGREQ, publish(0), publish(200_000 - 17));
  fc.assert(
    fc.property(fc.array(fc.nat(stream.length), { maxLength: 20 }), (cuts) => {
      const scanner = new PacketLengthScanner(200_000);
      const points = [0, ...cuts.sort((a, b) => a - b), stream.length];
      for (let i = 1; i < points.length; i++) {
        assert.equal(scanner.scan(stream.subarray(points[i - 1], points[i])), undefined);
      }
    }),
  );
});

Deno.test("a packet over the limit is found from its header, before its body arrives", () => {
  const big = publish(300_000);
  const scanner = new PacketLengthScanner(65_536);
  assert.equal(scanner.scan(CONNECT), undefined);
  // The type byte and 3 length bytes: nothing of the body yet.
  assert.deepEqual(scanner.scan(big.subarray(0, 4)), {
    type: "PUBLISH",
    bytes: 300_000 + 2 + "MQTT_RT_DATA".length + 2,
  });
});

Deno.test("a header split byte by byte after packets within the limit is found", () => {
  const stream = concat(publish(10), PINGREQ, publish(70_000));
  const scanner = new PacketLengthScanner(65_536);
  const found = [];
  for (let i = 0; i < stream.length; i++) {
    const result = scanner.scan(stream.subarray(i, i + 1));
    if (result !== undefined) {
      found.push({ at: i, ...result });
      break;
    }
  }
  const header = publish(10).length + PINGREQ.length + 3; // the last length byte
  assert.deepEqual(found, [{ at: header, type: "PUBLISH", bytes: 70_000 + 16 }]);
});

Deno.test("the limit is the remaining length: one byte more is too many", () => {
  const packet = publish(1000);
  const remaining = 1000 + 2 + "MQTT_RT_DATA".length + 2;
  assert.equal(new PacketLengthScanner(remaining).scan(packet), undefined);
  assert.deepEqual(new PacketLengthScanner(remaining - 1).scan(packet), {
    type: "PUBLISH",
    bytes: remaining,
  });
});

Deno.test("any packet type is limited, e.g. a SUBSCRIBE", () => {
  const subscribe = packet(
    0x82,
    concat(new Uint8Array([0, 1]), utf8("x".repeat(1000)), new Uint8Array([1])),
  );
  assert.equal(new PacketLengthScanner(500).scan(subscribe)?.type, "SUBSCRIBE");
});

Deno.test("a malformed length (a fifth length byte) stops scanning, leaving it to the parser", () => {
  const scanner = new PacketLengthScanner(10);
  assert.equal(scanner.scan(new Uint8Array([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f])), undefined);
  assert.equal(scanner.scan(publish(1000)), undefined);
});
