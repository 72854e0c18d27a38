/**
 * Home Assistant MQTT discovery of the bridge itself: one device, like
 * Zigbee2MQTT's bridge, that the meters' devices are connected through
 * (`via_device`). Its entities read topics the bridge publishes anyway:
 * the connection state from the bridge's state topic, the version and the
 * meter counts from its `bridge/info`; a button asks the bridge API to
 * reload the configuration. Pure: the proxy publishes what this returns.
 *
 * With replicas each replica is a bridge device of its own, with its own
 * state and info topics. They get no reload button: a request reaches
 * whichever replica the broker hands it to, not the one pressed.
 *
 * @module
 */
import { jsonText } from "./central_message.ts";
import {
  bridgeNodeId,
  bridgeQualifiers,
  type Component,
  type DiscoveryConfigs,
  type DiscoveryContext,
  entityIdOptions,
  origin,
} from "./home_assistant.ts";
import { bridgeTopic } from "./topics.ts";

/** `<prefix>/<component>/<bridge node id>/<key>/config`. */
export function bridgeDiscoveryTopic(
  context: DiscoveryContext,
  component: Component,
  key: string,
): string {
  return `${context.prefix}/${component}/${bridgeNodeId(context)}/${key}/config`;
}

/** The discovery configurations of the bridge device, by topic, as JSON. */
export function bridgeDiscoveryConfigs(context: DiscoveryContext): DiscoveryConfigs {
  const nodeId = bridgeNodeId(context);
  const device = {
    identifiers: [nodeId],
    name: ["KPM33B Bridge", ...bridgeQualifiers(context)].join(" "),
    manufacturer: "kpm33b-bridge",
    model: "Bridge",
    sw_version: context.version,
  };
  // Shown unavailable while the bridge is not online, as the meters' entities are.
  const available = { availability: [{ topic: context.stateTopic }] };
  const configs: DiscoveryConfigs = new Map();
  const add = (component: Component, key: string, config: Record<string, unknown>) => {
    const uniqueId = `${nodeId}_${key}`;
    configs.set(
      bridgeDiscoveryTopic(context, component, key),
      jsonText({
        unique_id: uniqueId,
        ...entityIdOptions(component, uniqueId),
        ...config,
        device,
        origin: origin(context.version),
      }),
    );
  };
  // Always available: it is the entity that shows the bridge offline.
  add("binary_sensor", "connection_state", {
    name: "Connection state",
    state_topic: context.stateTopic,
    payload_on: "online",
    payload_off: "offline",
    device_class: "connectivity",
    entity_category: "diagnostic",
  });
  add("sensor", "version", {
    name: "Version",
    state_topic: context.infoTopic,
    value_template: "{{ value_json.version }}",
    icon: "mdi:tag",
    entity_category: "diagnostic",
    ...available,
  });
  add("sensor", "meters_online", {
    name: "Meters online",
    state_topic: context.infoTopic,
    value_template: "{{ value_json.meters_online }}",
    state_class: "measurement",
    icon: "mdi:meter-electric",
    ...available,
  });
  add("sensor", "meters_known", {
    name: "Meters known",
    state_topic: context.infoTopic,
    value_template: "{{ value_json.meters }}",
    state_class: "measurement",
    icon: "mdi:meter-electric-outline",
    ...available,
  });
  if (context.replica === undefined) {
    add("button", "reload_config", {
      name: "Reload configuration",
      command_topic: bridgeTopic(context.root, "request/config/reload"),
      payload_press: "{}",
      qos: 1,
      icon: "mdi:reload",
      entity_category: "config",
      ...available,
    });
  }
  return configs;
}
