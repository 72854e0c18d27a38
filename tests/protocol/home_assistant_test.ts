import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { meterSettings } from "../../src/config/meter_settings.ts";
import {
  bridgeNodeId,
  bridgeQualifiers,
  type DiscoveredMeter,
  discoveryConfigs,
  type DiscoveryContext,
  discoveryFilter,
  discoveryTopic,
  entityIdOptions,
  isStale,
  parseDiscoveryTopic,
} from "../../src/protocol/home_assistant.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";

const A = MeterId.parse("33B1225950027");
const CONTEXT: DiscoveryContext = {
  root: "kpm33b",
  prefix: "homeassistant",
  version: "9.9.9",
  availabilityFactor: 2.5,
  stateTopic: "kpm33b/bridge/state",
  infoTopic: "kpm33b/bridge/info",
};

function meter(yaml = "{}", io = false, id = A): DiscoveredMeter {
  const meters = parseConfig(yaml, "config.yaml", () => undefined).meters;
  return { id, settings: meterSettings(meters, id), io };
}

function configs(yaml = "{}", io = false, context = CONTEXT) {
  const map = discoveryConfigs(context, meter(yaml, io));
  return new Map([...map].map(([topic, payload]) => [topic, JSON.parse(payload)]));
}

const AVAILABILITY = {
  availability: [{ topic: "kpm33b/bridge/state" }, { topic: "kpm33b/33B1225950027/availability" }],
  availability_mode: "all",
};

Deno.test("a default meter is one device with power and energy sensors, ids as earlier bridges had", () => {
  const found = configs("meters:\n  names:\n    33B1225950027: Main board\n");
  const device = {
    identifiers: ["kpm33b_33B1225950027"],
    name: "Main board",
    manufacturer: "Compere",
    model: "KPM33B",
    serial_number: "33B1225950027",
    via_device: "kpm33b_bridge",
  };
  const origin = { name: "kpm33b-bridge", sw_version: "9.9.9" };
  assert.deepEqual([...found.keys()], [
    "homeassistant/sensor/kpm33b_33B1225950027/power/config",
    "homeassistant/sensor/kpm33b_33B1225950027/energy/config",
  ]);
  assert.deepEqual(found.get("homeassistant/sensor/kpm33b_33B1225950027/power/config"), {
    name: "Power",
    unique_id: "kpm33b_33B1225950027_power",
    object_id: "kpm33b_33b1225950027_power",
    default_entity_id: "sensor.kpm33b_33b1225950027_power",
    state_topic: "kpm33b/33B1225950027/seconds",
    value_template: "{{ value_json.active_power }}",
    unit_of_measurement: "kW",
    device_class: "power",
    state_class: "measurement",
    suggested_display_precision: 3,
    expire_after: 150,
    ...AVAILABILITY,
    device,
    origin,
  });
  assert.deepEqual(found.get("homeassistant/sensor/kpm33b_33B1225950027/energy/config"), {
    name: "Energy",
    unique_id: "kpm33b_33B1225950027_energy",
    object_id: "kpm33b_33b1225950027_energy",
    default_entity_id: "sensor.kpm33b_33b1225950027_energy",
    state_topic: "kpm33b/33B1225950027/minutes",
    value_template: "{{ value_json.active_energy }}",
    unit_of_measurement: "kWh",
    device_class: "energy",
    state_class: "total_increasing",
    suggested_display_precision: 2,
    expire_after: 150,
    ...AVAILABILITY,
    device,
    origin,
  });
});

Deno.test("a meter without a name is called KPM33B <id>; expire_after follows its intervals", () => {
  const found = configs("meters:\n  upload_interval_seconds: 300\n  upload_interval_minutes: 15\n");
  const power = found.get("homeassistant/sensor/kpm33b_33B1225950027/power/config");
  assert.equal(power.device.name, "KPM33B 33B1225950027");
  assert.equal(power.expire_after, 750);
  assert.equal(
    found.get("homeassistant/sensor/kpm33b_33B1225950027/energy/config").expire_after,
    2250,
  );
});

Deno.test("per-phase groups add one sensor per field with its unit, class and precision", () => {
  const found = configs("meters:\n  fields: [current, voltage, power_factor]\n");
  const keys = [...found.keys()].map((topic) => topic.split("/")[3]);
  assert.deepEqual(keys, [
    "power",
    "current_l1",
    "current_l2",
    "current_l3",
    "voltage_l1",
    "voltage_l2",
    "voltage_l3",
    "power_factor_l1",
    "power_factor_l2",
    "power_factor_l3",
    "power_factor",
    "energy",
  ]);
  const current = found.get("homeassistant/sensor/kpm33b_33B1225950027/current_l1/config");
  assert.equal(current.name, "Current L1");
  assert.equal(current.unique_id, "kpm33b_33B1225950027_current_l1");
  assert.equal(current.unit_of_measurement, "A");
  assert.equal(current.device_class, "current");
  assert.equal(current.suggested_display_precision, 2);
  const pf = found.get("homeassistant/sensor/kpm33b_33B1225950027/power_factor/config");
  assert.equal(pf.device_class, "power_factor");
  assert.equal(pf.unit_of_measurement, undefined);
});

Deno.test("the full profile adds export energy as a total_increasing sensor", () => {
  const found = configs("meters:\n  profile: full\n");
  const exported = found.get(
    "homeassistant/sensor/kpm33b_33B1225950027/active_energy_export/config",
  );
  assert.equal(exported.name, "Active energy export");
  assert.equal(exported.state_class, "total_increasing");
  assert.equal(exported.device_class, "energy");
  assert.equal(exported.state_topic, "kpm33b/33B1225950027/minutes");
  // Harmonics are KPM37 / KPM312 only.
  assert.ok(![...found.keys()].some((topic) => topic.includes("harmonic")));
});

Deno.test("relay control adds a switch; reported I/O adds input (and output) binary sensors", () => {
  const controlled = configs("meters:\n  relay_control: [33B1225950027]\n", true);
  const relay = controlled.get("homeassistant/switch/kpm33b_33B1225950027/relay/config");
  assert.equal(relay.command_topic, "kpm33b/33B1225950027/relay/set");
  // Home Assistant sends switch commands at QoS 0 unless the config says otherwise.
  assert.equal(relay.qos, 1);
  assert.equal(relay.default_entity_id, "switch.kpm33b_33b1225950027_relay");
  const keys = [...controlled.keys()].filter((t) => t.includes("binary_sensor"));
  assert.deepEqual(keys.map((t) => t.split("/")[3]), ["di1", "di2"]);
  const watched = configs("{}", true);
  const do1 = watched.get("homeassistant/binary_sensor/kpm33b_33B1225950027/do1/config");
  assert.equal(do1.name, "Output 1");
  assert.equal(do1.state_topic, "kpm33b/33B1225950027/io");
  assert.equal(do1.value_template, "{{ value_json.do1 }}");
  assert.equal(watched.has("homeassistant/switch/kpm33b_33B1225950027/relay/config"), false);
});

Deno.test("discovery topics parse back; other integrations' topics do not", () => {
  const entity = { component: "sensor" as const, id: A, key: "power" };
  assert.equal(discoveryFilter("homeassistant"), "homeassistant/+/+/+/config");
  const topic = discoveryTopic("homeassistant", entity);
  assert.deepEqual(parseDiscoveryTopic("homeassistant", topic), entity);
  for (
    const other of [
      "homeassistant/sensor/zigbee2mqtt_0x1/power/config",
      "homeassistant/light/kpm33b_33B1225950027/power/config",
      "other/sensor/kpm33b_33B1225950027/power/config",
      "homeassistant/sensor/kpm33b_33b1225950027/power/config",
    ]
  ) {
    assert.equal(parseDiscoveryTopic("homeassistant", other), undefined, other);
  }
});

Deno.test("stale: what is no longer wanted, but I/O sensors wait for the meter to report again", () => {
  const plain = meter();
  const wanted = discoveryConfigs(CONTEXT, plain);
  const topicOf = (component: "sensor" | "binary_sensor", key: string) =>
    discoveryTopic("homeassistant", { component, id: A, key });
  const stale = (
    m: DiscoveredMeter | undefined,
    component: "sensor" | "binary_sensor",
    key: string,
  ) => isStale(m, { component, id: A, key }, wanted, topicOf(component, key));
  assert.equal(stale(plain, "sensor", "power"), false);
  assert.equal(stale(plain, "sensor", "current_l1"), true);
  assert.equal(stale(undefined, "sensor", "power"), true);
  assert.equal(stale(plain, "binary_sensor", "di1"), false);
  assert.equal(stale(meter("{}", true), "binary_sensor", "di1"), true);
  assert.equal(
    stale(meter("meters:\n  relay_control: [33B1225950027]\n"), "binary_sensor", "do1"),
    true,
  );
});

Deno.test("every entity suggests the same lowercase entity id to old and new Home Assistant", () => {
  const yaml = "meters:\n  profile: full\n  relay_control: [33B1225950027]\n";
  const found = configs(yaml, true);
  assert.ok(found.size > 20);
  for (const [topic, config] of found) {
    const [, component] = topic.split("/");
    const expected = config.unique_id.toLowerCase();
    // Home Assistant before 2025.10 reads object_id, newer versions default_entity_id.
    assert.equal(config.object_id, expected, topic);
    assert.equal(config.default_entity_id, `${component}.${expected}`, topic);
    assert.match(config.default_entity_id, /^[a-z_]+\.[a-z0-9_]+$/, topic);
  }
});

Deno.test("a meter's device is connected through the bridge device of the replica handling it", () => {
  const via = (context: DiscoveryContext) =>
    configs("{}", false, context).get("homeassistant/sensor/kpm33b_33B1225950027/power/config")
      .device.via_device;
  assert.equal(via(CONTEXT), "kpm33b_bridge");
  assert.equal(via({ ...CONTEXT, replica: "Pod-0.a" }), "kpm33b_bridge_pod_0_a");
  assert.equal(via({ ...CONTEXT, root: "site/North" }), "kpm33b_bridge_site_north");
});

Deno.test("the bridge node id names the root only if it is not the default, and the replica", () => {
  assert.equal(bridgeNodeId({ root: "kpm33b" }), "kpm33b_bridge");
  assert.equal(bridgeNodeId({ root: "kpm33b", replica: "r1" }), "kpm33b_bridge_r1");
  assert.equal(bridgeNodeId({ root: "a/b-c", replica: "x_y" }), "kpm33b_bridge_a_b_c_x_y");
  assert.deepEqual(bridgeQualifiers({ root: "a/b-c", replica: "x_y" }), ["a/b-c", "x_y"]);
  assert.deepEqual(entityIdOptions("button", "kpm33b_bridge_R1_reload"), {
    object_id: "kpm33b_bridge_r1_reload",
    default_entity_id: "button.kpm33b_bridge_r1_reload",
  });
});
