/**
 * Scoped permissions of each worker, derived from the configuration: a worker
 * gets exactly the broker addresses it talks to and nothing else.
 *
 * @module
 */
import { type BrokerRole, embeddedListener } from "../broker/listener.ts";
import type { Config, LogFileConfig } from "../config/schema.ts";
import { rotatedPaths } from "../logging/rotation.ts";
import { brokerAddress } from "../mqtt/broker_address.ts";

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
    ...brokersOnly(config),
    read: [config.state_dir],
    write: [config.state_dir],
  };
}

/**
 * The proxy: both brokers and, for the durable outbox, the state directory;
 * nothing else.
 */
export function proxyPermissions(config: Config): Deno.PermissionOptionsObject {
  if (!config.outbox.enabled) return brokersOnly(config);
  return { ...brokersOnly(config), read: [config.state_dir], write: [config.state_dir] };
}

function brokersOnly(config: Config): Deno.PermissionOptionsObject {
  return {
    ...NOTHING,
    net: [
      ...new Set([brokerAddress(config.internal_broker), brokerAddress(config.central_broker)]),
    ],
  };
}

/** An embedded broker: listening on its own address (and TLS port), nothing else. */
export function brokerPermissions(config: Config, role: BrokerRole): Deno.PermissionOptionsObject {
  const listener = embeddedListener(config, role);
  if (listener === undefined) throw new Error(`${role}.embedded is not enabled`);
  const ports = [listener.port, ...(listener.tls ? [listener.tls.port] : [])];
  return { ...NOTHING, net: ports.map((port) => `${listener.host}:${port}`) };
}

/**
 * The HTTP endpoint: listening on `http.host`:`http.port`, nothing else; it
 * learns everything it shows from the other workers' events.
 */
export function httpPermissions(config: Config): Deno.PermissionOptionsObject {
  const { host, port } = config.http;
  // The endpoint listens on localhost as 127.0.0.1, and on IPv6 addresses in brackets.
  const address = host === "localhost" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  return { ...NOTHING, net: [`${address}:${port}`] };
}

/**
 * The log file worker: reading and writing the log file and its rotated
 * copies (rotation renames them), nothing else.
 */
export function logFilePermissions(file: LogFileConfig): Deno.PermissionOptionsObject {
  const paths = [file.path, ...rotatedPaths(file.path, file.keep)];
  return { ...NOTHING, net: false, read: paths, write: paths };
}
