/**
 * The network address a broker URL points at.
 *
 * @module
 */
import type { BrokerConfig } from "../config/schema.ts";

const DEFAULT_PORTS: Readonly<Record<string, string>> = {
  "mqtt:": "1883",
  "tcp:": "1883",
  "mqtts:": "8883",
  "ssl:": "8883",
  "ws:": "80",
  "wss:": "443",
};

/** The `host:port` a broker URL connects to, as Deno's net permission names it. */
export function brokerAddress(broker: Pick<BrokerConfig, "url">): string {
  const url = new URL(broker.url);
  return `${url.hostname}:${url.port === "" ? DEFAULT_PORTS[url.protocol] : url.port}`;
}
