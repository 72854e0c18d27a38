/**
 * Digital inputs and outputs from `MQTT_TELEIND`: `value` is `DI@DO`, two
 * hexadecimal bit masks (bit 0 = DI1 / DO1).
 *
 * @module
 */
import type { RelayState } from "./meter_status.ts";
import type { IoPayload } from "./topics.ts";

function bit(mask: number, index: number): RelayState {
  return (mask >> index) & 1 ? "ON" : "OFF";
}

/** The `<root>/<id>/io` payload of a validated `DI@DO` value. */
export function ioPayload(value: string): IoPayload {
  const [di = 0, out = 0] = value.split("@").map((hex) => parseInt(hex, 16));
  return { di1: bit(di, 0), di2: bit(di, 1), do1: bit(out, 0), do2: bit(out, 1), raw: value };
}
