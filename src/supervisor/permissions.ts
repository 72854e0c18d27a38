/**
 * Scoped permissions of each worker, derived from the configuration: a worker
 * gets exactly the broker addresses it talks to and nothing else.
 *
 * @module
 */
import { type BrokerRole, embeddedListener } from "../broker/listener.ts";
import type { Config } from "../config/schema.ts";
import { brokerAddress } from "../config/broker_address.ts";
import { NO_PERMISSIONS } from "../runtime/no_permissions.ts";

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
    ...NO_PERMISSIONS,
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
  return { ...NO_PERMISSIONS, net: ports.map((port) => `${listener.host}:${port}`) };
}

/**
 * The HTTP endpoint: listening on `http.host`:`http.port`, nothing else; it
 * learns everything it shows from the other workers' events.
 */
export function httpPermissions(config: Config): Deno.PermissionOptionsObject {
  const { host, port } = config.http;
  // The endpoint listens on localhost as 127.0.0.1, and on IPv6 addresses in brackets.
  const address = host === "localhost" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  return { ...NO_PERMISSIONS, net: [`${address}:${port}`] };
}
