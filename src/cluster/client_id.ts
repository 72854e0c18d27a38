/**
 * Client ids of the bridge's connections: stable across restarts (brokers
 * keep a persistent session per client id), distinct per worker, and with
 * replicas distinct per replica.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";

/** `<client_id>[-<replica>]-<purpose>`, e.g. `kpm33b-bridge-kpm33b-0-proxy-internal`. */
export function clientId(
  config: Config,
  broker: "internal_broker" | "central_broker",
  purpose: string,
): string {
  const { replica } = config.cluster;
  return `${config[broker].client_id}${replica === "" ? "" : `-${replica}`}-${purpose}`;
}
