/**
 * Prepares a client's connection before aedes takes it: aedes gets every byte
 * that has arrived at each read, and (with a limit) a packet whose header
 * announces more than the limit closes the connection before its body is
 * buffered.
 *
 * aedes reads a connection with `read()` once per batch of packets and reads
 * again only after a batch produced a packet or on the next `readable` event.
 * Node's `read()` returns everything buffered; Deno's (2.9) returns only the
 * first buffered chunk. A packet spanning chunks then waits for the rest,
 * which is already buffered, until more data arrives — for a packet larger
 * than the socket's buffer (64 KiB) forever, until the client disconnects.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Duplex } from "node:stream";
import { type OversizedPacket, PacketLengthScanner } from "./packet_length_scanner.ts";

/** Options of {@link guardConnection}. */
export interface GuardOptions {
  /** Longest remaining length of a packet, bytes; `undefined`: no limit. */
  readonly maxRemainingLength?: number;
  /** Called once for a packet over the limit, before the connection is destroyed. */
  readonly onOversized?: (packet: OversizedPacket) => void;
}

/** Makes `connection.read()` return all buffered bytes and enforces the packet length limit. */
export function guardConnection(connection: Duplex, options: GuardOptions = {}): void {
  const read = connection.read.bind(connection);
  const scanner = options.maxRemainingLength === undefined
    ? undefined
    : new PacketLengthScanner(options.maxRemainingLength);
  connection.read = (size?: number) => {
    if (size !== undefined && size !== null) return read(size);
    const chunks: Buffer[] = [];
    // Reading until null also asks the stream for a `readable` event once more data arrives.
    for (let chunk = read(); chunk !== null; chunk = read()) chunks.push(chunk);
    const [first] = chunks;
    if (first === undefined) return null;
    const bytes = chunks.length === 1 ? first : Buffer.concat(chunks);
    const oversized = scanner?.scan(bytes);
    if (oversized === undefined) return bytes;
    options.onOversized?.(oversized);
    connection.destroy();
    return null;
  };
}
