/**
 * Scoped permissions of each worker, derived from the configuration: a worker
 * gets exactly the broker addresses it talks to and nothing else.
 *
 * @module
 */
import type { BrokerConfig, Config } from "../config/schema.ts";

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

const NOTHING = {
  read: false,
  write: false,
  run: false,
  ffi: false,
  env: false,
  sys: false,
  import: false,
} as const;

/** The config sender: both brokers and its state directory, nothing else. */
export function configSenderPermissions(config: Config): Deno.PermissionOptionsObject {
  return {
    ...proxyPermissions(config),
    read: [config.state_dir],
    write: [config.state_dir],
  };
}

/** The proxy: both brokers, nothing else. */
export function proxyPermissions(config: Config): Deno.PermissionOptionsObject {
  return {
    ...NOTHING,
    net: [
      ...new Set([brokerAddress(config.internal_broker), brokerAddress(config.central_broker)]),
    ],
  };
}
