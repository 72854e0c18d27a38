import assert from "node:assert/strict";
import type { DiscoveryContext } from "../../src/protocol/home_assistant.ts";
import {
  bridgeDiscoveryConfigs,
  bridgeDiscoveryTopic,
} from "../../src/protocol/home_assistant_bridge.ts";
import { BridgeInfo, BridgeState } from "../../src/protocol/topics.ts";

const CONTEXT: DiscoveryContext = {
  root: "kpm33b",
  prefix: "homeassistant",
  version: "9.9.9",
  availabilityFactor: 2.5,
  stateTopic: "kpm33b/bridge/state",
  infoTopic: "kpm33b/bridge/info",
};

function configs(context = CONTEXT) {
  const map = bridgeDiscoveryConfigs(context);
  return new Map([...map].map(([topic, payload]) => [topic, JSON.parse(payload)]));
}

const DEVICE = {
  identifiers: ["kpm33b_bridge"],
  name: "KPM33B Bridge",
  manufacturer: "kpm33b-bridge",
  model: "Bridge",
  sw_version: "9.9.9",
};
const ORIGIN = { name: "kpm33b-bridge", sw_version: "9.9.9" };
const AVAILABLE = { availability: [{ topic: "kpm33b/bridge/state" }] };

Deno.test("the bridge device: connection state, version, meter counts and a reload button", () => {
  const found = configs();
  assert.deepEqual([...found.keys()], [
    "homeassistant/binary_sensor/kpm33b_bridge/connection_state/config",
    "homeassistant/sensor/kpm33b_bridge/version/config",
    "homeassistant/sensor/kpm33b_bridge/meters_online/config",
    "homeassistant/sensor/kpm33b_bridge/meters_known/config",
    "homeassistant/button/kpm33b_bridge/reload_config/config",
  ]);
  assert.deepEqual(
    found.get("homeassistant/binary_sensor/kpm33b_bridge/connection_state/config"),
    {
      unique_id: "kpm33b_bridge_connection_state",
      object_id: "kpm33b_bridge_connection_state",
      default_entity_id: "binary_sensor.kpm33b_bridge_connection_state",
      name: "Connection state",
      state_topic: "kpm33b/bridge/state",
      payload_on: "online",
      payload_off: "offline",
      device_class: "connectivity",
      entity_category: "diagnostic",
      device: DEVICE,
      origin: ORIGIN,
    },
  );
  assert.deepEqual(found.get("homeassistant/sensor/kpm33b_bridge/version/config"), {
    unique_id: "kpm33b_bridge_version",
    object_id: "kpm33b_bridge_version",
    default_entity_id: "sensor.kpm33b_bridge_version",
    name: "Version",
    state_topic: "kpm33b/bridge/info",
    value_template: "{{ value_json.version }}",
    icon: "mdi:tag",
    entity_category: "diagnostic",
    ...AVAILABLE,
    device: DEVICE,
    origin: ORIGIN,
  });
  const online = found.get("homeassistant/sensor/kpm33b_bridge/meters_online/config");
  assert.equal(online.value_template, "{{ value_json.meters_online }}");
  assert.equal(online.state_class, "measurement");
  assert.equal(online.default_entity_id, "sensor.kpm33b_bridge_meters_online");
  const known = found.get("homeassistant/sensor/kpm33b_bridge/meters_known/config");
  assert.equal(known.value_template, "{{ value_json.meters }}");
  assert.deepEqual(found.get("homeassistant/button/kpm33b_bridge/reload_config/config"), {
    unique_id: "kpm33b_bridge_reload_config",
    object_id: "kpm33b_bridge_reload_config",
    default_entity_id: "button.kpm33b_bridge_reload_config",
    name: "Reload configuration",
    command_topic: "kpm33b/bridge/request/config/reload",
    payload_press: "{}",
    qos: 1,
    icon: "mdi:reload",
    entity_category: "config",
    ...AVAILABLE,
    device: DEVICE,
    origin: ORIGIN,
  });
});

Deno.test("the bridge entities read fields the bridge publishes, with the payloads it uses", () => {
  const fields = Object.keys(BridgeInfo.shape);
  for (const [topic, config] of configs()) {
    if (config.state_topic === CONTEXT.infoTopic) {
      const field = /^\{\{ value_json\.([a-z_]+) \}\}$/.exec(config.value_template)?.[1];
      assert.ok(field !== undefined && fields.includes(field), topic);
    } else if (config.state_topic !== undefined) {
      assert.equal(config.state_topic, CONTEXT.stateTopic, topic);
      assert.deepEqual([config.payload_on, config.payload_off], BridgeState.options, topic);
    }
  }
});

Deno.test("each replica is a bridge device of its own, without a reload button", () => {
  const context = {
    ...CONTEXT,
    replica: "Pod-1",
    stateTopic: "kpm33b/bridge/replicas/Pod-1/state",
    infoTopic: "kpm33b/bridge/replicas/Pod-1/info",
  };
  const found = configs(context);
  assert.deepEqual([...found.keys()].map((topic) => topic.split("/").slice(1, 4).join("/")), [
    "binary_sensor/kpm33b_bridge_pod_1/connection_state",
    "sensor/kpm33b_bridge_pod_1/version",
    "sensor/kpm33b_bridge_pod_1/meters_online",
    "sensor/kpm33b_bridge_pod_1/meters_known",
  ]);
  const version = found.get(bridgeDiscoveryTopic(context, "sensor", "version"));
  assert.equal(version.state_topic, "kpm33b/bridge/replicas/Pod-1/info");
  assert.deepEqual(version.availability, [{ topic: "kpm33b/bridge/replicas/Pod-1/state" }]);
  assert.deepEqual(version.device.identifiers, ["kpm33b_bridge_pod_1"]);
  assert.equal(version.device.name, "KPM33B Bridge Pod-1");
  assert.equal(version.unique_id, "kpm33b_bridge_pod_1_version");
  assert.equal(version.default_entity_id, "sensor.kpm33b_bridge_pod_1_version");
});

Deno.test("a bridge under another topic root is another device, its button on its own root", () => {
  const context = {
    ...CONTEXT,
    root: "site2/kpm33b",
    stateTopic: "site2/kpm33b/bridge/state",
    infoTopic: "site2/kpm33b/bridge/info",
  };
  const button = configs(context).get(bridgeDiscoveryTopic(context, "button", "reload_config"));
  assert.equal(button.command_topic, "site2/kpm33b/bridge/request/config/reload");
  assert.deepEqual(button.device.identifiers, ["kpm33b_bridge_site2_kpm33b"]);
  assert.equal(button.device.name, "KPM33B Bridge site2/kpm33b");
  assert.equal(button.default_entity_id, "button.kpm33b_bridge_site2_kpm33b_reload_config");
});
