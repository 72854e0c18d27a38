/**
 * The bridge's configuration inside the Home Assistant add-on, made from the
 * add-on's options and the MQTT service the Supervisor names: central broker
 * = Home Assistant's (no typing), the meters' broker embedded on all
 * interfaces with the meter password, state and HTTP where the add-on needs
 * them. Pure: no I/O.
 *
 * @module
 */
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import type { AddonOptions } from "./addon_options.ts";
import type { MqttServiceLookup } from "./mqtt_service.ts";

/** Where the add-on runs things: fixed in the image, movable for tests. */
export interface AddonLayout {
  /** Persistent state; below /data, which the Supervisor keeps and backs up. */
  readonly stateDir: string;
  /** The meters' broker's port, published by the Supervisor as 11883/tcp. */
  readonly metersPort: number;
  /** The status page's port: the add-on's `ingress_port`. */
  readonly httpPort: number;
}

/** The layout of the add-on image. */
export const ADDON_LAYOUT: AddonLayout = {
  stateDir: "/data/state",
  metersPort: 11883,
  httpPort: 8080,
};

/** Keys the add-on sets itself, which `config_overrides` may not change, and why. */
const MANAGED: ReadonlyArray<readonly [readonly string[], string]> = [
  [["state_dir"], "state must stay below /data, which the Supervisor keeps and backs up"],
  [
    ["internal_broker", "url"],
    "the add-on runs the meters' broker on port 11883; " +
    "move its port on the add-on's Network tab",
  ],
  [
    ["internal_broker", "embedded"],
    "the add-on runs the meters' broker itself, on port 11883; " +
    "move its port on the add-on's Network tab",
  ],
  [["http", "enabled"], "the status page is what the add-on shows in Home Assistant"],
  [["http", "host"], "Home Assistant's ingress reaches the status page on all interfaces"],
  [
    ["http", "port"],
    "Home Assistant's ingress reaches the status page on the add-on's ingress port",
  ],
];

/** The options cannot make a configuration; the message names the option and what to do. */
export class AddonConfigError extends Error {
  override readonly name: string = "AddonConfigError";
}

type Mapping = Record<string, unknown>;

function isMapping(value: unknown): value is Mapping {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `config_overrides` as a mapping; empty text is none. */
function overridesOf(text: string): Mapping {
  if (text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new AddonConfigError(
      `option config_overrides is not valid YAML: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isMapping(parsed)) {
    throw new AddonConfigError(
      "option config_overrides must be keys of the bridge's config.yaml, e.g. " +
        "{meters: {upload_interval_seconds: 30}}",
    );
  }
  for (const [path, why] of MANAGED) {
    let node: unknown = parsed;
    for (const key of path) node = isMapping(node) ? node[key] : undefined;
    if (node !== undefined) {
      throw new AddonConfigError(
        `option config_overrides may not set ${path.join(".")}: ${why}`,
      );
    }
  }
  return parsed;
}

/** `base` with `over` merged in: mappings key by key, anything else replaced. */
function merge(base: Mapping, over: Mapping): Mapping {
  const merged: Mapping = { ...base };
  for (const [key, value] of Object.entries(over)) {
    merged[key] = isMapping(value) && isMapping(base[key]) ? merge(base[key], value) : value;
  }
  return merged;
}

/** Central broker settings: Home Assistant's, unless the overrides name another. */
function centralBroker(overrides: Mapping, mqtt: MqttServiceLookup): Mapping {
  const own = isMapping(overrides.central_broker) ? overrides.central_broker : {};
  if (own.url !== undefined) return { embedded: { enabled: false } };
  if (!mqtt.available) {
    throw new AddonConfigError(
      `Home Assistant has no MQTT broker (Supervisor: ${mqtt.reason}): install and start the ` +
        "Mosquitto broker add-on (Settings > Add-ons > Add-on store), then restart this add-on; " +
        "or name another broker in option config_overrides " +
        "(central_broker: {url: mqtt://host:1883, username: ..., password: ...})",
    );
  }
  const { host, port, ssl, username, password } = mqtt.service;
  return {
    url: `${ssl ? "mqtts" : "mqtt"}://${host.includes(":") ? `[${host}]` : host}:${port}`,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    embedded: { enabled: false },
  };
}

/**
 * The configuration as a plain document for `config.yaml`.
 *
 * @throws {AddonConfigError} when the options cannot make one
 */
export function addonConfig(
  options: AddonOptions,
  mqtt: MqttServiceLookup,
  layout: AddonLayout = ADDON_LAYOUT,
): Mapping {
  const overrides = overridesOf(options.config_overrides);
  const meterAuth = isMapping(overrides.internal_broker)
    ? overrides.internal_broker.meter_auth
    : undefined;
  if (options.meter_password === "" && meterAuth === undefined) {
    throw new AddonConfigError(
      "option meter_password is empty: set the password the meters log in with (user meter) " +
        "on the add-on's Configuration tab, then start the add-on again",
    );
  }
  const base: Mapping = {
    internal_broker: {
      url: `mqtt://127.0.0.1:${layout.metersPort}`,
      embedded: { enabled: true, host: "0.0.0.0" },
      meter_auth: { password: options.meter_password },
    },
    central_broker: centralBroker(overrides, mqtt),
    state_dir: layout.stateDir,
    meters: {
      ...(options.timezone === "" ? {} : { timezone: options.timezone }),
      names: Object.fromEntries(options.meter_names.map(({ id, name }) => [id, name])),
      relay_control: options.relay_control,
    },
    logging: { level: options.log_level },
    http: { enabled: true, host: "0.0.0.0", port: layout.httpPort },
  };
  return merge(base, overrides);
}

/** Every string with `${` written as `$${`: values are literal, never environment references. */
function literal(value: unknown): unknown {
  // A function: in a replacement string "$$" would stand for one "$".
  if (typeof value === "string") return value.replaceAll("${", () => "$${");
  if (Array.isArray(value)) return value.map(literal);
  if (isMapping(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [literal(k), literal(v)]));
  }
  return value;
}

/** The document as `config.yaml` text, every value literal. */
export function addonConfigText(document: Mapping): string {
  return "# Written by the kpm33b-bridge add-on at each start from its options and Home\n" +
    "# Assistant's MQTT service; changes here are lost. Set options on the add-on's\n" +
    "# Configuration tab (config_overrides for any other key).\n" +
    stringifyYaml(literal(document));
}
