/**
 * Home Assistant MQTT discovery: the retained configuration messages that
 * make each meter a device with its entities. Pure: the proxy publishes what
 * these functions return.
 *
 * Unique ids are `kpm33b_<id>_power`, `kpm33b_<id>_energy` and
 * `kpm33b_<id>_<field>`, as earlier bridges for these meters used, so an
 * existing installation keeps its entities and their history.
 *
 * Entity ids are suggested twice, so that every supported Home Assistant
 * version makes the same ones: `default_entity_id` (2025.10 and newer, which
 * then ignore `object_id` without a deprecation warning; 2026.4 removed it)
 * and `object_id` (older versions, which ignore `default_entity_id`).
 *
 * @module
 */
import { type DiscoveryConfig, type JsonText, jsonText } from "./central_message.ts";
import type { MeterSettings } from "./meter_settings.ts";
import { type MeterId, modelOf } from "./meter_id.ts";
import { LAYOUTS } from "./reading.ts";
import type { Unit } from "./tags.ts";
import { meterTopic, readingTopic } from "./topics.ts";
import { payloadFields } from "./transform.ts";
import type { ReadingLevel } from "./uplink.ts";

/** Discovery configurations by topic, as JSON. */
export type DiscoveryConfigs = Map<string, JsonText<DiscoveryConfig>>;

/** Entity platforms the bridge creates. */
export type Component = "sensor" | "binary_sensor" | "switch" | "button";

/** Where and for which bridge discovery messages are published. */
export interface DiscoveryContext {
  /** The bridge's topic root, e.g. `kpm33b`. */
  readonly root: string;
  /** `homeassistant.discovery_prefix`. */
  readonly prefix: string;
  /** The bridge version, in the origin info. */
  readonly version: string;
  /** `meters.availability_factor`, for the minutes level's `expire_after`. */
  readonly availabilityFactor: number;
  /**
   * The availability topic of the bridge process publishing this discovery:
   * `<root>/bridge/state`, or with replicas its own
   * `<root>/bridge/replicas/<replica>/state`.
   */
  readonly stateTopic: string;
  /** Its `bridge/info` topic, beside `stateTopic`. */
  readonly infoTopic: string;
  /** `cluster.replica` with replicas: each replica is a bridge device of its own. */
  readonly replica?: string;
}

/** One meter as discovery describes it. */
export interface DiscoveredMeter {
  readonly id: MeterId;
  readonly settings: MeterSettings;
  /** Whether the meter reported its digital inputs and outputs (`MQTT_TELEIND`). */
  readonly io: boolean;
}

/** The address of one entity's configuration. */
export interface EntityKey {
  readonly component: Component;
  readonly id: MeterId;
  readonly key: string;
}

/** Levels whose readings become entities; `day` repeats the minutes registers. */
const ENTITY_LEVELS: readonly ReadingLevel[] = ["seconds", "minutes"];

/** Keys of published fields that earlier bridges named differently. */
const FIELD_KEYS: Readonly<Record<string, string>> = {
  active_power: "power",
  active_energy: "energy",
};

const DEVICE_CLASSES: Partial<Record<Unit, string>> = {
  V: "voltage",
  A: "current",
  kW: "power",
  kvar: "reactive_power",
  kVA: "apparent_power",
  Hz: "frequency",
  "°C": "temperature",
  kWh: "energy",
};

const PRECISION: Partial<Record<Unit, number>> = {
  V: 1,
  A: 2,
  kW: 3,
  kvar: 3,
  kVA: 3,
  Hz: 2,
  "%": 1,
  "°C": 1,
  "°": 1,
  kWh: 2,
  kvarh: 2,
  kVAh: 2,
};

const UNIT_INFO = new Map(
  Object.values(LAYOUTS).flatMap((layout) => layout.info.map((info) => [info.name, info.unit])),
);

/** The Home Assistant node id of a meter: `kpm33b_<id>`. */
export function nodeId(id: MeterId): string {
  return `kpm33b_${id}`;
}

/** The default `topics.root`: the only one a bridge device id leaves out. */
const DEFAULT_ROOT = "kpm33b";

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
}

/**
 * What tells this bridge device from others on the same broker: the topic
 * root if it is not the default (two bridges), and the replica's name.
 */
export function bridgeQualifiers(context: Pick<DiscoveryContext, "root" | "replica">): string[] {
  return [
    ...(context.root === DEFAULT_ROOT ? [] : [context.root]),
    ...(context.replica === undefined ? [] : [context.replica]),
  ];
}

/**
 * The node id and device identifier of the bridge itself: `kpm33b_bridge`,
 * followed by its qualifiers in lowercase, e.g. `kpm33b_bridge_pod_0`.
 */
export function bridgeNodeId(context: Pick<DiscoveryContext, "root" | "replica">): string {
  return ["kpm33b_bridge", ...bridgeQualifiers(context).map(slug)].join("_");
}

/**
 * The suggested entity id of an entity, as both Home Assistant options
 * (see the module comment), lowercase as Home Assistant makes them.
 */
export function entityIdOptions(
  component: Component,
  uniqueId: string,
): { object_id: string; default_entity_id: string } {
  const objectId = uniqueId.toLowerCase();
  return { object_id: objectId, default_entity_id: `${component}.${objectId}` };
}

/** The origin info of every configuration. */
export function origin(version: string): { name: string; sw_version: string } {
  return { name: "kpm33b-bridge", sw_version: version };
}

/** `<prefix>/<component>/kpm33b_<id>/<key>/config`. */
export function discoveryTopic(prefix: string, entity: EntityKey): string {
  return `${prefix}/${entity.component}/${nodeId(entity.id)}/${entity.key}/config`;
}

/** `<prefix>/+/+/+/config`: every discovery configuration, to find stale ones. */
export function discoveryFilter(prefix: string): string {
  return `${prefix}/+/+/+/config`;
}

/** The entity a discovery topic configures, if it is one of this bridge's kind. */
export function parseDiscoveryTopic(prefix: string, topic: string): EntityKey | undefined {
  if (!topic.startsWith(`${prefix}/`)) return undefined;
  const match = /^(sensor|binary_sensor|switch)\/kpm33b_([0-9A-Z]{13})\/([a-z0-9_]+)\/config$/
    .exec(topic.slice(prefix.length + 1));
  if (match === null) return undefined;
  const [, component, id, key] = match;
  if (component === undefined || id === undefined || key === undefined) return undefined;
  return { component: component as Component, id: id as MeterId, key };
}

function title(field: string): string {
  const words = field.split("_").map((word) => /^[lt]\d$/.test(word) ? word.toUpperCase() : word);
  const text = words.join(" ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const ENTITY_NAMES: Readonly<Record<string, string>> = {
  power: "Power",
  energy: "Energy",
  relay: "Relay",
  di1: "Input 1",
  di2: "Input 2",
  do1: "Output 1",
};

function entityName(key: string): string {
  return ENTITY_NAMES[key] ?? title(key);
}

/**
 * The discovery configurations of one meter, by topic, as JSON. A meter
 * excluded from the bridge has none.
 */
export function discoveryConfigs(
  context: DiscoveryContext,
  meter: DiscoveredMeter,
): DiscoveryConfigs {
  const { root, prefix, version } = context;
  const { id, settings } = meter;
  const model = modelOf(id);
  const device = {
    identifiers: [nodeId(id)],
    name: settings.name ?? `KPM33B ${id}`,
    manufacturer: "Compere",
    model,
    serial_number: id,
    via_device: bridgeNodeId(context),
  };
  const common = {
    availability: [
      { topic: context.stateTopic },
      { topic: meterTopic(root, id, "availability") },
    ],
    availability_mode: "all",
    device,
    origin: origin(version),
  };
  const expireAfter: Record<string, number> = {
    seconds: settings.availabilityTimeoutSeconds,
    minutes: Math.ceil(settings.uploadIntervalMinutes * 60 * context.availabilityFactor),
  };
  const configs: DiscoveryConfigs = new Map();
  const add = (entity: EntityKey, config: Record<string, unknown>) => {
    const uniqueId = `${nodeId(id)}_${entity.key}`;
    configs.set(
      discoveryTopic(prefix, entity),
      jsonText({
        name: entityName(entity.key),
        unique_id: uniqueId,
        ...entityIdOptions(entity.component, uniqueId),
        ...config,
        ...common,
      }),
    );
  };
  for (const level of ENTITY_LEVELS) {
    for (const [, field] of payloadFields(level, settings, model)) {
      const key = FIELD_KEYS[field] ?? field;
      const unit = UNIT_INFO.get(field) ?? null;
      const cumulative = unit !== null && unit.endsWith("h");
      const deviceClass = field.startsWith("power_factor")
        ? "power_factor"
        : unit === null
        ? undefined
        : DEVICE_CLASSES[unit];
      add({ component: "sensor", id, key }, {
        state_topic: readingTopic(root, id, level),
        value_template: `{{ value_json.${field} }}`,
        ...(unit === null ? {} : { unit_of_measurement: unit }),
        ...(deviceClass === undefined ? {} : { device_class: deviceClass }),
        state_class: cumulative ? "total_increasing" : "measurement",
        ...(unit !== null && PRECISION[unit] !== undefined
          ? { suggested_display_precision: PRECISION[unit] }
          : {}),
        expire_after: expireAfter[level],
      });
    }
  }
  if (settings.relayControl) {
    add({ component: "switch", id, key: "relay" }, {
      command_topic: meterTopic(root, id, "relay/set"),
      state_topic: meterTopic(root, id, "relay"),
      payload_on: "ON",
      payload_off: "OFF",
      // Home Assistant sends commands at QoS 0 unless told otherwise: a switch must not get lost.
      qos: 1,
      icon: "mdi:electric-switch",
    });
  }
  if (meter.io) {
    for (const key of ["di1", "di2", ...(settings.relayControl ? [] : ["do1"])]) {
      add({ component: "binary_sensor", id, key }, {
        state_topic: meterTopic(root, id, "io"),
        value_template: `{{ value_json.${key} }}`,
        payload_on: "ON",
        payload_off: "OFF",
        entity_category: "diagnostic",
      });
    }
  }
  return configs;
}

/**
 * Whether an existing configuration (found retained on the broker) is no
 * longer wanted and must be cleared. Input and output sensors stay until the
 * meter reports them again after a restart, unless the relay switch took
 * over `do1`.
 */
export function isStale(
  meter: DiscoveredMeter | undefined,
  entity: EntityKey,
  wanted: ReadonlyMap<string, string>,
  topic: string,
): boolean {
  if (meter === undefined) return true;
  if (wanted.has(topic)) return false;
  if (entity.component !== "binary_sensor" || meter.io) return true;
  return entity.key === "do1" && meter.settings.relayControl;
}
