/** MQTT 3.1.1 packets as raw bytes, for tests that speak to a broker below a client library. */

/** Concatenates byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  return all;
}

/** A packet: its first byte, its remaining length (variable byte integer), its body. */
export function mqttPacket(first: number, body: Uint8Array): Uint8Array {
  const length: number[] = [];
  let rest = body.length;
  do {
    length.push((rest % 128) | (rest >= 128 ? 0x80 : 0));
    rest = Math.floor(rest / 128);
  } while (rest > 0);
  return concatBytes(new Uint8Array([first, ...length]), body);
}

/** A length-prefixed UTF-8 string field. */
export function utf8Field(text: string): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  return concatBytes(new Uint8Array([bytes.length >> 8, bytes.length & 0xff]), bytes);
}

/** A clean-session CONNECT with username and password, keepalive 60 s. */
export function connectPacket(clientId: string, username: string, password: string): Uint8Array {
  return mqttPacket(
    0x10,
    concatBytes(
      utf8Field("MQTT"),
      new Uint8Array([4, 0xc2, 0, 60]),
      utf8Field(clientId),
      utf8Field(username),
      utf8Field(password),
    ),
  );
}

/** A QoS 1 PUBLISH with message id 1 and a payload of zeros. */
export function publishPacket(payloadBytes: number, topic = "MQTT_RT_DATA"): Uint8Array {
  return mqttPacket(
    0x32,
    concatBytes(utf8Field(topic), new Uint8Array([0, 1]), new Uint8Array(payloadBytes)),
  );
}
