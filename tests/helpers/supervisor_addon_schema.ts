/**
 * The Home Assistant Supervisor's checks of an add-on repository, ported from
 * its sources (home-assistant/supervisor: supervisor/apps/validate.py,
 * supervisor/apps/options.py, supervisor/store/validate.py,
 * supervisor/validate.py, supervisor/const.py). Each function returns the
 * problems found, empty when the Supervisor would take the file. Stricter in
 * one way: a key the Supervisor would silently drop (a typo) is a problem.
 */

type Mapping = Record<string, unknown>;
/** A check of one value: problems, each prefixed with the key path. */
type Check = (value: unknown, path: string) => string[];

const ARCH_ALL = ["aarch64", "amd64"];
const ARCH_DEPRECATED = ["armhf", "armv7", "i386"];
const ARCH_ALL_COMPAT = [...ARCH_ALL, ...ARCH_DEPRECATED];
const STARTUP = ["initialize", "system", "services", "application", "once"];
const BOOT = ["auto", "manual", "manual_only"];
const STAGE = ["stable", "experimental", "deprecated"];
const ROLES = ["default", "homeassistant", "backup", "manager", "admin"];
const MAPPING_TYPES = [
  "data",
  "config",
  "ssl",
  "local_apps",
  "backup",
  "share",
  "media",
  "homeassistant_config",
  "all_app_configs",
  "app_config",
];
/** Accepted, but logged as deprecated (2026.07). */
const LEGACY_MAPPING_TYPES = ["addons", "all_addon_configs", "addon_config"];
const RE_SLUG_FIELD = /^[-_.A-Za-z0-9]+$/;
const RE_SERVICE = /^(mqtt|mysql):(provide|want|need)$/;
const RE_DOCKER_PORT = /^\d+(?:\/tcp|\/udp)?$/;
const RE_DOCKER_IMAGE_BUILD = /^([a-zA-Z\-.:\d{}]+\/)*?([\-\w{}]+)\/([\-\w{}]+)(:[.\-\w{}]+)?$/;
const RE_WATCHDOG = /^(?:https?|\[PROTO:\w+\]|tcp):\/\/\[HOST\]:(\[PORT:\d+\]|\d+).*$/;
const RE_WEBUI = /^(?:https?|\[PROTO:\w+\]):\/\/\[HOST\]:\[PORT:\d+\].*$/;
const RE_VOLUME =
  /^(data|config|ssl|local_apps|addons|backup|share|media|homeassistant_config|all_app_configs|all_addon_configs|app_config|addon_config)(?::(rw|ro))?$/;
/** supervisor/apps/options.py RE_SCHEMA_ELEMENT. */
export const RE_SCHEMA_ELEMENT = new RegExp(
  "^(?:" +
    "|bool" +
    "|email" +
    "|url" +
    "|port" +
    "|device(?:\\((?<filter>subsystem=[a-z]+)\\))?" +
    "|str(?:\\((?<s_min>\\d+)?,(?<s_max>\\d+)?\\))?" +
    "|password(?:\\((?<p_min>\\d+)?,(?<p_max>\\d+)?\\))?" +
    "|int(?:\\((?<i_min>-?\\d+)?,(?<i_max>-?\\d+)?\\))?" +
    "|float(?:\\((?<f_min>-?\\d*\\.?\\d+)?,(?<f_max>-?\\d*\\.?\\d+)?\\))?" +
    "|match\\((?<match>.*)\\)" +
    "|list\\((?<list>.+)\\)" +
    ")\\??$",
);

const isMapping = (value: unknown): value is Mapping =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const at = (path: string, key: string | number) =>
  typeof key === "number" ? `${path}[${key}]` : path === "" ? key : `${path}.${key}`;

const str: Check = (v, p) => typeof v === "string" ? [] : [`${p}: expected a string`];
const bool: Check = (v, p) => typeof v === "boolean" ? [] : [`${p}: expected true or false`];
const oneOf = (allowed: readonly string[]): Check => (v, p) =>
  typeof v === "string" && allowed.includes(v)
    ? []
    : [`${p}: ${JSON.stringify(v)} is not one of ${allowed.join(", ")}`];
const matches = (re: RegExp): Check => (v, p) =>
  typeof v === "string" && re.test(v) ? [] : [`${p}: ${JSON.stringify(v)} does not match ${re}`];
/** voluptuous Url(): a scheme and a network location. */
const url: Check = (v, p) => {
  try {
    const parsed = new URL(String(v));
    if (typeof v === "string" && parsed.protocol !== "" && parsed.host !== "") return [];
  } catch {
    // reported below
  }
  return [`${p}: ${JSON.stringify(v)} is not a URL`];
};
/** AwesomeVersion accepts any string or number. */
const version: Check = (v, p) =>
  typeof v === "string" || typeof v === "number" ? [] : [`${p}: expected a version`];
const networkPort: Check = (v, p) =>
  Number.isInteger(Number(v)) && Number(v) >= 1 && Number(v) <= 65535
    ? []
    : [`${p}: ${v} is not a port 1-65535`];
const listOf = (item: Check): Check => (v, p) =>
  Array.isArray(v) ? v.flatMap((element, i) => item(element, at(p, i))) : [`${p}: expected a list`];
const mapOf = (key: Check, value: Check): Check => (v, p) =>
  isMapping(v)
    ? Object.entries(v).flatMap((
      [k, element],
    ) => [...key(k, at(p, k)), ...value(element, at(p, k))])
    : [`${p}: expected a mapping`];
const maybe = (check: Check): Check => (v, p) => v === null ? [] : check(v, p);

/** A mapping with `required` and `optional` keys; any other key is a problem. */
function object(required: Record<string, Check>, optional: Record<string, Check>): Check {
  return (v, p) => {
    if (!isMapping(v)) return [`${p || "file"}: expected a mapping`];
    const problems: string[] = [];
    for (const [key, check] of Object.entries(required)) {
      if (!(key in v)) problems.push(`${at(p, key)}: required key missing`);
      else problems.push(...check(v[key], at(p, key)));
    }
    for (const [key, value] of Object.entries(v)) {
      if (key in required) continue;
      const check = optional[key];
      if (check === undefined) {
        problems.push(`${at(p, key)}: unknown key (the Supervisor drops it)`);
      } else problems.push(...check(value, at(p, key)));
    }
    return problems;
  };
}

/** apps/validate.py SCHEMA_ELEMENT: a type, a list of one type or mapping, or a mapping. */
const schemaElement: Check = (v, p) => {
  if (typeof v === "string") return matches(RE_SCHEMA_ELEMENT)(v, p);
  if (Array.isArray(v)) {
    return v.flatMap((element, i) =>
      Array.isArray(element)
        ? [`${at(p, i)}: a list may not directly contain another list`]
        : schemaElement(element, at(p, i))
    );
  }
  if (isMapping(v)) return Object.entries(v).flatMap(([k, e]) => schemaElement(e, at(p, k)));
  return [`${p}: not a schema element`];
};

const mapEntry: Check = (v, p) => {
  if (typeof v === "string") {
    const match = RE_VOLUME.exec(v);
    if (!match) return [`${p}: invalid map entry (skipped by the Supervisor)`];
    const [, type = ""] = match;
    return LEGACY_MAPPING_TYPES.includes(type) ? [`${p}: legacy map type ${type}`] : [];
  }
  const problems = object({ type: oneOf([...MAPPING_TYPES, ...LEGACY_MAPPING_TYPES]) }, {
    read_only: bool,
    path: str,
  })(v, p);
  if (isMapping(v) && LEGACY_MAPPING_TYPES.includes(String(v.type))) {
    problems.push(`${p}: legacy map type ${v.type}`);
  }
  return problems;
};

const ADDON_KEYS_OPTIONAL: Record<string, Check> = {
  machine: listOf(str),
  url,
  startup: oneOf(STARTUP),
  boot: oneOf(BOOT),
  init: bool,
  stage: oneOf(STAGE),
  ports: mapOf(matches(RE_DOCKER_PORT), maybe(networkPort)),
  ports_description: mapOf(matches(RE_DOCKER_PORT), str),
  watchdog: matches(RE_WATCHDOG),
  webui: matches(RE_WEBUI),
  ingress: bool,
  ingress_port: (v, p) => v === 0 ? [] : networkPort(v, p),
  ingress_entry: str,
  ingress_stream: bool,
  panel_icon: str,
  panel_title: str,
  panel_admin: bool,
  homeassistant: version,
  host_network: bool,
  host_pid: bool,
  host_ipc: bool,
  host_uts: bool,
  host_dbus: bool,
  devices: listOf(str),
  udev: bool,
  tmpfs: bool,
  map: listOf(mapEntry),
  environment: mapOf(matches(/\w*/), str),
  privileged: listOf(str),
  apparmor: bool,
  full_access: bool,
  audio: bool,
  video: bool,
  gpio: bool,
  usb: bool,
  uart: bool,
  devicetree: bool,
  kernel_modules: bool,
  realtime: bool,
  hassio_api: bool,
  hassio_role: oneOf(ROLES),
  homeassistant_api: bool,
  stdin: bool,
  legacy: bool,
  docker_api: bool,
  auth_api: bool,
  services: listOf(matches(RE_SERVICE)),
  discovery: listOf(str),
  backup_exclude: listOf(str),
  backup_pre: str,
  backup_post: str,
  backup: oneOf(["hot", "cold"]),
  options: (v, p) => isMapping(v) ? [] : [`${p}: expected a mapping`],
  schema: (v, p) => v === false ? [] : mapOf(str, schemaElement)(v, p),
  image: matches(/^[a-z0-9.\-_/{}:]+$/),
  ulimits: mapOf(
    str,
    (v, p) =>
      isMapping(v)
        ? object({ soft: networkPort, hard: networkPort }, {})(v, p)
        : Number.isInteger(v)
        ? []
        : [`${p}: expected a number`],
  ),
  timeout: (v, p) =>
    Number.isInteger(v) && Number(v) >= 10 && Number(v) <= 300 ? [] : [`${p}: 10-300`],
  journald: bool,
  breaking_versions: listOf(version),
};

/** An add-on's config.yaml as the store reads it (apps/validate.py SCHEMA_APP_CONFIG). */
export function addonConfigProblems(raw: unknown): string[] {
  // _migrate_app_config: what is not a mapping with a name is no add-on.
  if (!isMapping(raw) || !raw.name) return ["Invalid app config! (no name)"];
  const problems = object({
    name: str,
    version,
    slug: matches(RE_SLUG_FIELD),
    description: str,
    arch: listOf(oneOf(ARCH_ALL_COMPAT)),
  }, ADDON_KEYS_OPTIONAL)(raw, "");
  // _warn_app_config: logged advisories.
  if ("advanced" in raw) problems.push("advanced: deprecated, ignored");
  for (const arch of Array.isArray(raw.arch) ? raw.arch : []) {
    if (ARCH_DEPRECATED.includes(arch)) problems.push(`arch: ${arch} is deprecated`);
  }
  if (raw.ingress === true && raw.ingress_port === 0) {
    for (const port of Object.keys(isMapping(raw.ports) ? raw.ports : {})) {
      const number = Number(port.split("/")[0]);
      if (number >= 62000 && number <= 65500) problems.push(`ports.${port}: reserved for ingress`);
    }
  }
  return problems;
}

/** repository.yaml (store/validate.py SCHEMA_REPOSITORY_CONFIG). */
export function repositoryProblems(raw: unknown): string[] {
  return object({ name: str }, { url, maintainer: str })(raw, "");
}

/** build.yaml (apps/validate.py SCHEMA_BUILD_CONFIG). */
export function buildProblems(raw: unknown): string[] {
  return object({}, {
    build_from: (v, p) =>
      typeof v === "string"
        ? matches(RE_DOCKER_IMAGE_BUILD)(v, p)
        : mapOf(oneOf(ARCH_ALL_COMPAT), matches(RE_DOCKER_IMAGE_BUILD))(v, p),
    squash: bool,
    args: mapOf(str, str),
    labels: mapOf(str, str),
  })(raw, "");
}

const translationEntry: Check = (v, p) =>
  object({ name: str }, { description: maybe(str), fields: mapOf(str, translationEntry) })(v, p);

/** translations/<language>.yaml (apps/validate.py SCHEMA_APP_TRANSLATIONS). */
export function translationProblems(raw: unknown): string[] {
  return object({}, { configuration: mapOf(str, translationEntry), network: mapOf(str, str) })(
    raw,
    "",
  );
}

function range(match: RegExpExecArray, kind: string): { min?: number; max?: number } {
  const min = match.groups?.[`${kind}_min`];
  const max = match.groups?.[`${kind}_max`];
  return { min: min ? Number(min) : undefined, max: max ? Number(max) : undefined };
}

/** One option value against its type (apps/options.py AppOptions._single_validate). */
function singleOption(type: string, value: unknown, path: string): string[] {
  if (value === null || value === undefined) return [`${path}: missing required option`];
  const match = RE_SCHEMA_ELEMENT.exec(type);
  if (!match) return [`${path}: unknown type ${type}`];
  const within = (n: number, { min, max }: { min?: number; max?: number }) =>
    (min === undefined || n >= min) && (max === undefined || n <= max);
  if (type.startsWith("str") || type.startsWith("password")) {
    if (typeof value !== "string") return [`${path}: expected a string`];
    return within(value.length, range(match, type.startsWith("str") ? "s" : "p"))
      ? []
      : [`${path}: length outside ${type}`];
  }
  if (type.startsWith("int") || type.startsWith("float")) {
    const n = Number(value);
    if (Number.isNaN(n) || (type.startsWith("int") && !Number.isInteger(n))) {
      return [`${path}: expected a number`];
    }
    return within(n, range(match, type.startsWith("int") ? "i" : "f"))
      ? []
      : [`${path}: outside ${type}`];
  }
  if (type.startsWith("bool")) return bool(value, path);
  if (type.startsWith("email")) return matches(/^[^@\s]+@[^@\s]+$/)(value, path);
  if (type.startsWith("url")) return url(value, path);
  if (type.startsWith("port")) return networkPort(value, path);
  if (type.startsWith("match")) {
    // Python's re.match: anchored at the start only.
    return new RegExp(`^(?:${match.groups!.match})`).test(String(value))
      ? []
      : [`${path}: ${JSON.stringify(value)} does not match ${type}`];
  }
  if (type.startsWith("list")) {
    return (match.groups?.list ?? "").split("|").includes(String(value))
      ? []
      : [`${path}: ${JSON.stringify(value)} is not one of ${type}`];
  }
  return [`${path}: type ${type} needs the device's hardware`];
}

function optionElement(type: unknown, value: unknown, path: string): string[] {
  if (Array.isArray(type)) {
    if (!Array.isArray(value)) return [`${path}: invalid list`];
    return value.flatMap((element, i) => optionElement(type[0], element, at(path, i)));
  }
  if (isMapping(type)) return optionMapping(type, value, path);
  return singleOption(String(type), value, path);
}

function optionMapping(schema: Mapping, options: unknown, path: string): string[] {
  if (!isMapping(options)) return [`${path || "options"}: invalid dict`];
  const problems: string[] = [];
  for (const [key, value] of Object.entries(options)) {
    if (!(key in schema)) problems.push(`${at(path, key)}: not in the schema (dropped)`);
    else problems.push(...optionElement(schema[key], value, at(path, key)));
  }
  // _check_missing_options: a missing key is fine only if its type ends in "?".
  for (const [key, type] of Object.entries(schema)) {
    if (key in options) continue;
    const element = Array.isArray(type) && type.length > 0 ? type[0] : type;
    if (!(typeof element === "string" && element.endsWith("?"))) {
      problems.push(`${at(path, key)}: missing option`);
    }
  }
  return problems;
}

/** Options against an add-on's `schema`, as the Supervisor checks them before a start. */
export function optionProblems(schema: Mapping, options: unknown): string[] {
  return optionMapping(schema, options, "");
}
