/**
 * The configuration schema: every key of `config.yaml`, its default and what
 * it allows. The types used across the bridge are inferred from it.
 *
 * @module
 */
import { z } from "zod";
import { brokerPort } from "./broker_address.ts";
import { redactUrlText } from "./redact.ts";
import { MeterId } from "../protocol/meter_id.ts";
import { MeterIdPattern } from "../protocol/admission.ts";
import { Plausibility } from "../protocol/plausibility.ts";
import { hostTimeZone, isTimeZone } from "../protocol/meter_time.ts";
import { TopicRoot } from "../protocol/topics.ts";
import { ClusterName } from "../protocol/cluster.ts";
import { FieldGroup, Profile } from "../protocol/transform.ts";
import { MinutesLevelInterval, SecondsLevelInterval } from "../protocol/upload_interval.ts";

/** A number that may also be written as a decimal string (e.g. from `${PORT}`). */
function configNumber<T extends z.ZodType>(schema: T) {
  return z.preprocess(
    (value) => typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value,
    schema,
  );
}

/** `true` or `false`, also written as a string (e.g. from `${EMBEDDED:-true}`). */
function configBoolean() {
  return z.preprocess(
    (value) => value === "true" ? true : value === "false" ? false : value,
    z.boolean({ error: (issue) => `${JSON.stringify(issue.input)} is not true or false` }),
  );
}

function integer(min: number, max: number) {
  return configNumber(
    z.number().int().min(min, { error: `must be at least ${min}` }).max(max, {
      error: `must be at most ${max}`,
    }),
  );
}

/** URL schemes of a broker URL, with their colon as `URL.protocol` has it. */
export const BROKER_SCHEMES = ["mqtt:", "mqtts:", "tcp:", "ssl:", "ws:", "wss:"];

/** A broker URL such as `mqtt://127.0.0.1:1883`. */
export const BrokerUrl = z.string().refine((text) => {
  try {
    const url = new URL(text);
    return BROKER_SCHEMES.includes(url.protocol) && url.hostname !== "";
  } catch {
    return false;
  }
}, {
  error: (issue) =>
    `${
      JSON.stringify(redactUrlText(String(issue.input)))
    } is not a broker URL like mqtt://host:1883 (schemes: ${
      BROKER_SCHEMES.map((s) => s.slice(0, -1)).join(", ")
    })`,
});

const ClientId = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, {
  error: "client_id must be 1-64 characters A-Z a-z 0-9 _ . -",
});

const Port = integer(1, 65_535);

/**
 * TLS towards a broker (`mqtts://` / `wss://`). The `*_file` keys name PEM
 * files; the loader reads them into `ca`, `cert` and `key`, so workers need
 * no file access.
 */
export const ClientTlsConfig = z.strictObject({
  ca_file: z.string().min(1).optional(),
  cert_file: z.string().min(1).optional(),
  key_file: z.string().min(1).optional(),
  /** Verify the broker's certificate and host name. Turning it off is logged as a warning. */
  verify: configBoolean().default(true),
  ca: z.string().optional(),
  cert: z.string().optional(),
  key: z.string().optional(),
});
/** TLS towards a broker. */
export type ClientTlsConfig = z.infer<typeof ClientTlsConfig>;

/** A TLS listener of an embedded broker; PEM files read by the loader as for clients. */
export const ListenerTlsConfig = z.strictObject({
  port: Port,
  cert_file: z.string().min(1),
  key_file: z.string().min(1),
  cert: z.string().optional(),
  key: z.string().optional(),
});
/** A TLS listener of an embedded broker. */
export type ListenerTlsConfig = z.infer<typeof ListenerTlsConfig>;

/**
 * A broker the bridge runs itself (npm `aedes`). It listens on `port`
 * (default: the port of the broker's `url`) at `host`.
 */
export const EmbeddedBrokerConfig = z.strictObject({
  enabled: configBoolean().default(false),
  /**
   * Listen address. Default for the internal broker: 127.0.0.1 while no meter
   * password is set, 0.0.0.0 (the LAN) with one; for the central broker 127.0.0.1.
   */
  host: z.string().min(1).optional(),
  port: Port.optional(),
  tls: ListenerTlsConfig.optional(),
});
/** A broker the bridge runs itself. */
export type EmbeddedBrokerConfig = z.infer<typeof EmbeddedBrokerConfig>;

/** Connection to one MQTT broker. Credentials are optional. */
export const BrokerConfig = z.strictObject({
  url: BrokerUrl,
  username: z.string().optional(),
  password: z.string().optional(),
  client_id: ClientId.default("kpm33b-bridge"),
  tls: ClientTlsConfig.prefault({}),
  embedded: EmbeddedBrokerConfig.prefault({}),
});
/** Connection to one MQTT broker. */
export type BrokerConfig = z.infer<typeof BrokerConfig>;

/** A meter account bound to one meter id. */
export const MeterAccount = z.strictObject({
  /** Default: the meter id. */
  username: z.string().min(1).optional(),
  password: z.string().min(1, { error: "a meter account needs a password" }),
});
/** A meter account bound to one meter id. */
export type MeterAccount = z.infer<typeof MeterAccount>;

/**
 * Who may connect to the internal broker as a meter, for the embedded broker
 * and for the generated Mosquitto accounts.
 */
export const MeterAuthConfig = z.strictObject({
  /** The shared account all meters may use. */
  username: z.string().min(1).default("meter"),
  /** Empty: no meter authentication (the embedded broker then listens on 127.0.0.1 only). */
  password: z.string().default(""),
  /** Accounts bound to one meter id each: such a meter may only use its own id and topics. */
  accounts: z.record(MeterId, MeterAccount).default({}),
});
/** Who may connect to the internal broker as a meter. */
export type MeterAuthConfig = z.infer<typeof MeterAuthConfig>;

/** The meters' broker: a connection, plus who may use it as a meter. */
export const InternalBrokerConfig = BrokerConfig.extend({
  meter_auth: MeterAuthConfig.prefault({}),
});
/** The meters' broker. */
export type InternalBrokerConfig = z.infer<typeof InternalBrokerConfig>;

/** An IANA time zone name. */
export const TimeZone = z.string().refine(isTimeZone, {
  error: (issue) =>
    `${JSON.stringify(issue.input)} is not a known IANA time zone (e.g. Europe/Vienna, UTC)`,
});

/** The zone the meter clocks run in; by default this machine's, which differs per machine. */
export const MeterTimeZone = TimeZone.default(hostTimeZone);

/** What a meter publishes and how it is configured; each key overridable per meter. */
const MeterOverride = z.strictObject({
  upload_interval_seconds: configNumber(SecondsLevelInterval).optional(),
  upload_interval_minutes: configNumber(MinutesLevelInterval).optional(),
  profile: Profile.optional(),
  fields: z.array(FieldGroup).optional(),
});

/** The `meters` section. */
export const MetersConfig = z.strictObject({
  upload_interval_seconds: configNumber(SecondsLevelInterval).default(60),
  upload_interval_minutes: configNumber(MinutesLevelInterval).default(1),
  timezone: MeterTimeZone,
  exclude: z.array(MeterId).default([]),
  names: z.record(MeterId, z.string().min(1).max(64)).default({}),
  profile: Profile.default("default"),
  fields: z.array(FieldGroup).default([]),
  zero_confirm_readings: integer(1, 1000).default(3),
  /**
   * Consistent readings that accept a register going backwards (or jumping)
   * as a reset: a cleared counter, a replacement meter under the same id.
   */
  reset_confirm_readings: integer(1, 100).default(5),
  /** What a meter can report: values, energy rises and times outside are rejected. */
  plausibility: Plausibility.prefault({}),
  overrides: z.record(MeterId, MeterOverride).default({}),
  ack_timeout_seconds: integer(1, 600).default(15),
  command_retries: integer(0, 10).default(2),
  max_parallel_commands: integer(1, 10_000).default(20),
  /** Commands sent per second at most, over all meters; 0 is unlimited. */
  command_rate_per_second: integer(0, 100_000).default(100),
  time_sync: z.strictObject({
    max_drift_seconds: integer(5, 86_400).default(120),
    min_interval_seconds: integer(60, 86_400).default(3600),
  }).prefault({}),
  /** A meter is offline after this many seconds-level upload intervals without a reading. */
  availability_factor: configNumber(
    z.number().min(1, { error: "must be at least 1" }).max(100, { error: "must be at most 100" }),
  ).default(2.5),
  /** Fixed offline timeout in seconds instead of interval × `availability_factor`. */
  availability_timeout_seconds: integer(1, 86_400 * 7).optional(),
  /** Meters whose relay (DO1) may be switched over MQTT; switching can cut power. */
  relay_control: z.array(MeterId).default([]),
  /** How often each meter's `<root>/<id>/status` is refreshed when it changed. */
  status_interval_seconds: integer(1, 86_400).default(60),
  /** Which new meter ids may create a meter, and how many a minute (docs/configuration.md, "Admission of new meters"). */
  admission: z.strictObject({
    /** New ids admitted a minute once the burst is spent; 0 is unlimited. */
    new_per_minute: integer(0, 1_000_000).default(60),
    /** New ids admitted at once: a site's first start, or a batch of meters commissioned. */
    burst: integer(1, 1_000_000).default(1000),
    /** Ids or prefixes ending in `*` allowed; empty allows all. Whole ids pass without a token. */
    allow: z.array(MeterIdPattern).default([]),
  }).prefault({}),
});
/** The `meters` section. */
export type MetersConfig = z.infer<typeof MetersConfig>;

/** Bounds that protect the bridge from hostile or broken input. */
export const LimitsConfig = z.strictObject({
  max_payload_bytes: integer(256, 16 * 1024 * 1024).default(65536),
  reassembly_max_pending: integer(1, 1_000_000).default(1000),
  reassembly_max_age_seconds: integer(1, 3600).default(60),
  max_meters: integer(1, 10_000_000).default(100_000),
  /** Meters listed one by one in `bridge/meters`, the status page and per-meter metrics. */
  max_listed_meters: integer(0, 1_000_000).default(1000),
});
/** Bounds that protect the bridge from hostile or broken input. */
export type LimitsConfig = z.infer<typeof LimitsConfig>;

/**
 * The durable outbox: readings not yet acknowledged by the central broker,
 * kept in `state_dir` so they survive central outages and bridge restarts.
 */
export const OutboxConfig = z.strictObject({
  /** `false` keeps undelivered readings in memory only (lost on a crash). */
  enabled: configBoolean().default(true),
  max_entries: integer(100, 100_000_000).default(1_000_000),
  max_megabytes: integer(1, 1_000_000).default(256),
  max_age_hours: integer(1, 24 * 365).default(168),
  /**
   * Readings per second of the backlog delivered after an outage, on top of the
   * readings arriving meanwhile; 0 is unlimited. Central's broker drops silently
   * what a slow subscriber cannot take, so this plus the live rate must stay
   * within the slowest QoS 1 subscriber's pace (docs/delivery.md, "Central down").
   */
  drain_rate_per_second: integer(0, 1_000_000).default(50),
});
/** The `outbox` section. */
export type OutboxConfig = z.infer<typeof OutboxConfig>;

/** Log level names, least to most severe. */
export const LogLevel = z.enum(["trace", "debug", "info", "warning", "error", "fatal"]);

/**
 * A log file beside stdout (`logging.file`), rotated by the bridge itself:
 * for gateways without journald. Rotated files are `path.1` (newest) to
 * `path.<keep>`.
 */
export const LogFileConfig = z.strictObject({
  path: z.string().min(1, {
    error: "path must name the log file, e.g. /var/log/kpm33b/bridge.log",
  }),
  /** Start a new file on the first line of each local day. */
  daily: configBoolean().default(true),
  /** Start a new file before the current one grows beyond this; 0 is no size limit. */
  max_megabytes: integer(0, 100_000).default(0),
  /** Rotated files kept; older ones are deleted. */
  keep: integer(1, 1000).default(7),
});
/** The `logging.file` section. */
export type LogFileConfig = z.infer<typeof LogFileConfig>;

/** The `logging` section. */
export const LoggingConfig = z.strictObject({
  level: LogLevel.default("info"),
  format: z.enum(["text", "json"]).default("text"),
  stats_interval_seconds: integer(0, 86_400).default(300),
  /** Absent: log to stdout only (right under systemd and in containers). */
  file: LogFileConfig.optional(),
});
/** The `logging` section. */
export type LoggingConfig = z.infer<typeof LoggingConfig>;

/** Home Assistant MQTT discovery. */
export const HomeAssistantConfig = z.strictObject({
  enabled: configBoolean().default(true),
  discovery_prefix: TopicRoot.default("homeassistant"),
  /** Where Home Assistant announces itself (`online` after its start): discovery is re-sent. */
  status_topic: TopicRoot.default("homeassistant/status"),
  /** Discovery messages per second at most (a mass reconnect, a Home Assistant restart). */
  discovery_rate_per_second: integer(0, 1_000_000).default(200),
});
/** The `homeassistant` section. */
export type HomeAssistantConfig = z.infer<typeof HomeAssistantConfig>;

/** The HTTP endpoint: `/metrics`, `/healthz`, `/readyz` and the status page. */
export const HttpConfig = z.strictObject({
  enabled: configBoolean().default(true),
  /** Listen address: all interfaces by default (read-only, no secrets); 127.0.0.1 for local only. */
  host: z.string().min(1).default("0.0.0.0"),
  port: Port.default(8080),
  /**
   * When set, `/`, `/status.json` and `/metrics` need it (bearer token, or
   * Basic with any user name); the probes stay open.
   */
  auth_token: z.string().min(1, {
    error: "is empty, which would let anyone in: set a token or remove http.auth_token",
  }).optional(),
});
/** The `http` section. */
export type HttpConfig = z.infer<typeof HttpConfig>;

/**
 * Several bridges as one (docs/scaling.md): replicas share the meters'
 * topics through MQTT shared subscriptions, `$share/<share_group>/…`.
 */
export const ClusterConfig = z.strictObject({
  /** Empty: this bridge takes every meter alone. */
  share_group: z.union([z.literal(""), ClusterName]).default(""),
  /**
   * This process's name, unique among the bridge's processes and stable
   * across restarts (a StatefulSet pod's name): part of its client ids and
   * of its own topics.
   */
  replica: z.union([z.literal(""), ClusterName]).default(""),
});
/** The `cluster` section. */
export type ClusterConfig = z.infer<typeof ClusterConfig>;

/** The whole `config.yaml`. */
export const Config = z.strictObject({
  internal_broker: InternalBrokerConfig.prefault({ url: "mqtt://127.0.0.1:11883" }),
  central_broker: BrokerConfig.prefault({ url: "mqtt://127.0.0.1:1883" }),
  topics: z.strictObject({
    root: TopicRoot.default("kpm33b"),
    retain_readings: configBoolean().default(false),
  }).prefault({}),
  state_dir: z.string().min(1).default("./state"),
  meters: MetersConfig.prefault({}),
  limits: LimitsConfig.prefault({}),
  outbox: OutboxConfig.prefault({}),
  logging: LoggingConfig.prefault({}),
  homeassistant: HomeAssistantConfig.prefault({}),
  http: HttpConfig.prefault({}),
  cluster: ClusterConfig.prefault({}),
}).superRefine((config, ctx) => {
  const { cluster } = config;
  if (cluster.share_group !== "" && cluster.replica === "") {
    ctx.addIssue({
      code: "custom",
      path: ["cluster", "replica"],
      message: "is required with cluster.share_group: a name unique to this replica and stable " +
        "across restarts, e.g. ${HOSTNAME} of a StatefulSet pod",
    });
  }
  if (cluster.share_group !== "" && config.internal_broker.embedded.enabled) {
    ctx.addIssue({
      code: "custom",
      path: ["cluster", "share_group"],
      message: "the embedded meters' broker has no shared subscriptions: set " +
        "internal_broker.embedded.enabled: false and point internal_broker.url at a broker " +
        "that has them (EMQX, HiveMQ, VerneMQ, Mosquitto)",
    });
  }
  for (const key of ["internal_broker", "central_broker"] as const) {
    const { url, embedded } = config[key];
    if (!embedded.enabled) continue;
    const urlHost = new URL(url).hostname;
    if (
      embedded.host !== undefined && !["0.0.0.0", "::"].includes(embedded.host) &&
      embedded.host !== urlHost
    ) {
      ctx.addIssue({
        code: "custom",
        path: [key, "embedded", "host"],
        message: `the bridge connects to ${key}.url (host ${urlHost}) but the embedded broker ` +
          `would listen on ${embedded.host} only: use the same host, or 0.0.0.0`,
      });
    }
    const urlPort = brokerPort(url);
    if (embedded.port !== undefined && embedded.port !== urlPort) {
      ctx.addIssue({
        code: "custom",
        path: [key, "embedded", "port"],
        message: `${embedded.port} differs from the port of ${key}.url (${urlPort}); the bridge ` +
          "connects to url, so change both (or leave embedded.port out)",
      });
    }
  }
  const internal = config.internal_broker;
  const host = internal.embedded.host;
  const credentials = internal.meter_auth.password !== "" ||
    Object.keys(internal.meter_auth.accounts).length > 0;
  if (internal.embedded.enabled && host !== undefined && !LOOPBACK.has(host) && !credentials) {
    ctx.addIssue({
      code: "custom",
      path: ["internal_broker", "embedded", "host"],
      message: `${host} would open the meters' broker to the network without a password: set ` +
        "internal_broker.meter_auth.password (KPM33B_METER_PASSWORD) or accounts, or remove host",
    });
  }
});
/** The validated configuration. */
export type Config = z.infer<typeof Config>;

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1"]);
