/**
 * The network address a broker URL points at.
 *
 * @module
 */
import type { BrokerConfig } from "./schema.ts";

const DEFAULT_PORTS: Readonly<Record<string, string>> = {
  "mqtt:": "1883",
  "tcp:": "1883",
  "mqtts:": "8883",
  "ssl:": "8883",
  "ws:": "80",
  "wss:": "443",
};

/** The port a broker URL connects to (the scheme's default when it names none). */
export function brokerPort(url: string): number {
  const parsed = new URL(url);
  return Number(parsed.port === "" ? DEFAULT_PORTS[parsed.protocol] : parsed.port);
}

/** The `host:port` a broker URL connects to, as Deno's net permission names it. */
export function brokerAddress(broker: Pick<BrokerConfig, "url">): string {
  return `${new URL(broker.url).hostname}:${brokerPort(broker.url)}`;
}
