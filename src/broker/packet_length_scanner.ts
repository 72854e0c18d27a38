/**
 * Finds an MQTT packet longer than a limit from its fixed header alone, as the
 * bytes of a connection arrive: the broker can close the connection before it
 * buffers the rest of the packet.
 *
 * Every MQTT packet starts with one byte (its type in the high 4 bits) and its
 * remaining length, 1 to 4 bytes of 7 bits each (low bits first, the high bit
 * set while more follow). The scanner reads those and skips the rest.
 *
 * Pure: no I/O.
 *
 * @module
 */

/** Packet type names by the high 4 bits of the first byte. */
const PACKET_TYPES = [
  "reserved",
  "CONNECT",
  "CONNACK",
  "PUBLISH",
  "PUBACK",
  "PUBREC",
  "PUBREL",
  "PUBCOMP",
  "SUBSCRIBE",
  "SUBACK",
  "UNSUBSCRIBE",
  "UNSUBACK",
  "PINGREQ",
  "PINGRESP",
  "DISCONNECT",
  "AUTH",
] as const;

/** A packet whose remaining length exceeds the limit. */
export interface OversizedPacket {
  /** E.g. `PUBLISH`. */
  readonly type: (typeof PACKET_TYPES)[number];
  /** Its remaining length (everything after the fixed header), bytes. */
  readonly bytes: number;
}

/** Tracks packet boundaries over a connection's bytes. */
export class PacketLengthScanner {
  /** Bytes of the current packet's body still to skip. */
  #skip = 0;
  /** Type of the packet whose length is being read; `undefined` before its first byte. */
  #type: number | undefined;
  #length = 0;
  #lengthBytes = 0;
  /** A malformed length: the broker's parser refuses it; nothing more is scanned. */
  #malformed = false;

  /** @param maxRemainingLength Longest allowed remaining length, bytes. */
  constructor(readonly maxRemainingLength: number) {}

  /**
   * Scans the next bytes of the connection; returns the first packet over the
   * limit whose header they complete.
   */
  scan(bytes: Uint8Array): OversizedPacket | undefined {
    let i = 0;
    while (i < bytes.length && !this.#malformed) {
      if (this.#skip > 0) {
        const skipped = Math.min(this.#skip, bytes.length - i);
        this.#skip -= skipped;
        i += skipped;
      } else if (this.#type === undefined) {
        this.#type = bytes[i++]! >> 4;
        this.#length = 0;
        this.#lengthBytes = 0;
      } else {
        const byte = bytes[i++]!;
        this.#length += (byte & 0x7f) * 128 ** this.#lengthBytes++;
        if (byte & 0x80) {
          this.#malformed = this.#lengthBytes === 4;
          continue;
        }
        // Four bits name one of the 16 types.
        const type = PACKET_TYPES[this.#type] ?? "reserved";
        this.#type = undefined;
        if (this.#length > this.maxRemainingLength) return { type, bytes: this.#length };
        this.#skip = this.#length;
      }
    }
    return undefined;
  }
}
