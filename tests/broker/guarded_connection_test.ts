import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { PassThrough } from "node:stream";
import { guardConnection } from "../../src/broker/guarded_connection.ts";
import type { OversizedPacket } from "../../src/broker/packet_length_scanner.ts";

/** A stream holding `chunks`, read as aedes reads: on `readable`, with `read()`. */
function bufferedStream(...chunks: Uint8Array[]): Promise<PassThrough> {
  const stream = new PassThrough();
  for (const chunk of chunks) stream.write(chunk);
  return new Promise((resolve) => stream.once("readable", () => resolve(stream)));
}

/** A PUBLISH header announcing `remaining` bytes (up to 2 MiB), without its body. */
function publishHeader(remaining: number): Uint8Array {
  return new Uint8Array([
    0x30,
    (remaining % 128) | 0x80,
    (remaining >> 7) % 128 | 0x80,
    remaining >> 14,
  ]);
}

Deno.test("read() returns every buffered chunk at once, as Node's does", async () => {
  const stream = await bufferedStream(new Uint8Array(19_456), new Uint8Array(65_536));
  guardConnection(stream);
  assert.equal(stream.read()?.length, 19_456 + 65_536);
  assert.equal(stream.read(), null);
});

Deno.test("read(size) keeps its meaning", async () => {
  const stream = await bufferedStream(Buffer.from("abcdef"));
  guardConnection(stream);
  assert.equal(stream.read(2)?.toString(), "ab");
  assert.equal(stream.read()?.toString(), "cdef");
});

Deno.test("a packet over the limit destroys the connection and is reported once", async () => {
  const stream = await bufferedStream(new Uint8Array([0xc0, 0]), publishHeader(300_000));
  const reported: OversizedPacket[] = [];
  guardConnection(stream, {
    maxRemainingLength: 66_560,
    onOversized: (packet) => reported.push(packet),
  });
  assert.equal(stream.read(), null);
  assert.equal(stream.destroyed, true);
  assert.deepEqual(reported, [{ type: "PUBLISH", bytes: 300_000 }]);
});

Deno.test("packets within the limit are read unchanged", async () => {
  const ping = new Uint8Array([0xc0, 0]);
  const stream = await bufferedStream(ping, ping);
  const reported: OversizedPacket[] = [];
  guardConnection(stream, { maxRemainingLength: 10, onOversized: (p) => reported.push(p) });
  assert.deepEqual([...stream.read()!], [0xc0, 0, 0xc0, 0]);
  assert.equal(stream.destroyed, false);
  assert.deepEqual(reported, []);
});
