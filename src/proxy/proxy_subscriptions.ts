/**
 * What the proxy subscribes to, in which order, and how a refusal is
 * reported: once per subscribe, at error level, naming the refused filters.
 *
 * On central, the announcements come first: discovery configurations retained
 * on central are only matched against meters already known. Then the bridge
 * API's requests and relay commands (shared, so that with replicas one of
 * them takes each) with the cluster link's filters, then Home Assistant's
 * discovery configurations and status. On the internal broker, the uplink
 * topics of the proxy's session.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { Config } from "../config/schema.ts";
import type { SubscribePort, SubscribeResult } from "../mqtt/subscribe_port.ts";
import { requestFilter } from "../protocol/bridge_api.ts";
import { discoveryFilter } from "../protocol/home_assistant.ts";
import { announcementFilter, relaySetFilter } from "../protocol/topics.ts";
import { shared } from "./proxy_settings.ts";

/** The refused filters (all of them on an error) and why, or `undefined` if none was. */
function refusal(
  filters: readonly string[],
  { error, refused }: SubscribeResult,
): { filters: readonly string[]; error: string } | undefined {
  if (!error && refused.length === 0) return undefined;
  return {
    filters: refused.length > 0 ? refused : filters,
    error: error?.message ?? "not authorized",
  };
}

/**
 * Subscribes on central after each connect. `announcementsSubscribed` is
 * called once the announcements' subscribe is answered, `requestsSubscribed`
 * once the bridge API's is (each also if refused).
 */
export function subscribeCentral(
  central: SubscribePort,
  config: Config,
  clusterFilters: readonly string[],
  answered: { announcementsSubscribed(): void; requestsSubscribed(): void },
  log: Logger,
): void {
  const { root } = config.topics;
  const { homeassistant } = config;
  const subscribe = (filters: readonly string[], then?: () => void) =>
    central.subscribe(filters, (result) => {
      const refused = refusal(filters, result);
      if (refused !== undefined) {
        log.error("Central broker refused subscriptions {filters}: {error}", refused);
      }
      then?.();
    });
  subscribe([announcementFilter(root)], () => {
    answered.announcementsSubscribed();
    const requests = [requestFilter(root), relaySetFilter(root)];
    subscribe(
      [...requests.map((filter) => shared(config, filter)), ...clusterFilters],
      answered.requestsSubscribed,
    );
    if (homeassistant.enabled) {
      subscribe([discoveryFilter(homeassistant.discovery_prefix), homeassistant.status_topic]);
    }
  });
}

/**
 * Subscribes to the readings on the internal broker after each connect;
 * `subscribed` is called only if the broker granted every filter.
 */
export function subscribeInternal(
  internal: SubscribePort,
  topics: readonly string[],
  subscribed: () => void,
  log: Logger,
): void {
  internal.subscribe(topics, (result) => {
    const refused = refusal(topics, result);
    if (refused !== undefined) {
      log.error("Internal broker refused subscriptions {topics}: {error}", {
        topics: refused.filters,
        error: refused.error,
      });
      return;
    }
    log.info("Subscribed to {topics} on the internal broker", { topics });
    subscribed();
  });
}
