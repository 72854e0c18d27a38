/**
 * The start-up banner: what listens where, where readings go and how to try
 * it. Pure: returns lines for the log.
 *
 * @module
 */
import { embeddedListener } from "./broker/listener.ts";
import type { Config } from "./config/schema.ts";
import { redactUrl } from "./config/redact.ts";
import { brokerPort } from "./config/broker_address.ts";
import { replicaTopic } from "./protocol/cluster.ts";

/** Host and port to reach a broker at: an embedded one's port, else the URL's. */
function address(url: string, embeddedPort: number | undefined): [string, number] {
  return [new URL(url).hostname, embeddedPort ?? brokerPort(url)];
}

const isLoopback = (host: string) => ["127.0.0.1", "localhost", "[::1]"].includes(host);

/** Banner lines for a configuration. */
export function banner(config: Config): string[] {
  const lines: string[] = [];
  const internal = embeddedListener(config, "internal_broker");
  const central = embeddedListener(config, "central_broker");
  const auth = config.internal_broker.meter_auth;
  if (internal === undefined) {
    lines.push(`Meters' broker: ${redactUrl(config.internal_broker.url)}`);
  } else {
    const tls = internal.tls ? ` and ${internal.host}:${internal.tls.port} (TLS)` : "";
    lines.push(`Meters' broker: embedded, listening on ${internal.host}:${internal.port}${tls}`);
    if (auth.password === "" && Object.keys(auth.accounts).length === 0) {
      lines.push(
        "Meters connect without a password, so the meters' broker accepts local clients only. " +
          "To let meters on the LAN in, set KPM33B_METER_PASSWORD (meters log in as " +
          `"${auth.username}") and restart: it then listens on 0.0.0.0 and requires credentials`,
      );
    } else {
      lines.push(
        `Meters must log in (shared user "${auth.username}"${
          auth.password === "" ? " disabled" : ""
        }, ${Object.keys(auth.accounts).length} accounts bound to meter ids)`,
      );
    }
  }
  if (central === undefined) {
    lines.push(`Readings go to ${redactUrl(config.central_broker.url)}`);
  } else {
    lines.push(
      `Readings go to the embedded central broker on ${central.host}:${central.port}; ` +
        "point central_broker.url at your Home Assistant broker to feed it instead",
    );
  }
  lines.push(
    `Meter clocks are set to ${config.meters.timezone} time (meters.timezone; by default this ` +
      "machine's time zone)",
  );
  const root = config.topics.root;
  const { share_group: group, replica } = config.cluster;
  if (group !== "") {
    lines.push(
      `Replica ${replica} of share group ${group}: takes the meters the broker routes to it ` +
        `($share/${group}/MQTT_RT_DATA, …); its own topics are under ${root}/bridge/replicas/${replica}/`,
    );
  }
  const stateTopic = group === "" ? `${root}/bridge/state` : replicaTopic(root, replica, "state");
  const [internalHost, internalPort] = address(config.internal_broker.url, internal?.port);
  const [centralHost, centralPort] = address(config.central_broker.url, central?.port);
  const { homeassistant, http } = config;
  lines.push(
    `Topics: ${root}/<id>/seconds, ${root}/<id>/minutes, ${root}/discovery/<id>, ${stateTopic}`,
    homeassistant.enabled
      ? `Home Assistant discovery under ${homeassistant.discovery_prefix}/, re-sent when ` +
        `${homeassistant.status_topic} is online`
      : "Home Assistant discovery is off (homeassistant.enabled)",
    http.enabled
      ? `Status page: http://${
        ["0.0.0.0", "::"].includes(http.host) ? "localhost" : http.host
      }:${http.port}/ (listening on ${http.host}:${http.port}; also /metrics, /healthz, /readyz)`
      : "HTTP endpoint is off (http.enabled)",
    `Try it: deno task simulate --broker mqtt://${internalHost}:${internalPort} and ` +
      `mosquitto_sub ${isLoopback(centralHost) ? "" : `-h ${centralHost} `}-p ${centralPort} ` +
      `-t '${root}/#' -v`,
  );
  return lines;
}
