/**
 * The proxy's session on the meters' (internal) broker: a persistent session
 * (`clean: false`) under a stable client id, subscribed with QoS 1 to the
 * uplink topics the proxy handles. The proxy opens it; the embedded meters'
 * broker creates it when it starts, so that readings meters send before the
 * proxy connects are kept for it, as a broker that stores its sessions on
 * disk keeps them across its restarts.
 *
 * @module
 */
import { clientId } from "../cluster/client_id.ts";
import type { Config } from "../config/schema.ts";
import { sharedFilter } from "../protocol/cluster.ts";
import { READING_TOPICS } from "../protocol/uplink.ts";

/** Uplink topics the proxy takes from the internal broker: readings and digital I/O. */
const INTERNAL_TOPICS = [...Object.keys(READING_TOPICS), "MQTT_TELEIND"];

/** A persistent session of one of the bridge's clients. */
export interface BridgeSession {
  readonly clientId: string;
  /** Topic filters it subscribes to with QoS 1. */
  readonly filters: readonly string[];
}

/** The proxy's session; with replicas (`cluster.share_group`) its filters are shared. */
export function proxyInternalSession(config: Config): BridgeSession {
  const group = config.cluster.share_group;
  return {
    clientId: clientId(config, "internal_broker", "proxy-internal"),
    filters: INTERNAL_TOPICS.map((topic) => group === "" ? topic : sharedFilter(group, topic)),
  };
}
