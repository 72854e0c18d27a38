/**
 * The payload of `<root>/bridge/info`: version, uptime, meter counts and a
 * summary of the running configuration. No credential can appear in it:
 * broker URLs are redacted and only non-secret keys are copied.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import { redactUrl } from "../config/redact.ts";
import type { BridgeInfo } from "../protocol/topics.ts";
import type { BridgeSnapshot } from "../status/bridge_snapshot.ts";

/** Builds `bridge/info` at `now` (epoch ms) for a bridge started at `startedAt`. */
export function bridgeInfo(
  config: Config,
  version: string,
  startedAt: number,
  now: number,
  meters: BridgeSnapshot["meter_counts"],
): BridgeInfo {
  return {
    version,
    started_at: new Date(startedAt).toISOString(),
    uptime_seconds: Math.round((now - startedAt) / 1000),
    meters: meters.known,
    meters_online: meters.online,
    config: {
      internal_broker: redactUrl(config.internal_broker.url),
      central_broker: redactUrl(config.central_broker.url),
      embedded_brokers: {
        internal: config.internal_broker.embedded.enabled,
        central: config.central_broker.embedded.enabled,
      },
      topics: config.topics,
      meters: {
        upload_interval_seconds: config.meters.upload_interval_seconds,
        upload_interval_minutes: config.meters.upload_interval_minutes,
        timezone: config.meters.timezone,
        profile: config.meters.profile,
        fields: config.meters.fields,
        excluded: config.meters.exclude.length,
        overrides: Object.keys(config.meters.overrides).length,
        relay_control: config.meters.relay_control,
        availability_factor: config.meters.availability_factor,
      },
      outbox: { enabled: config.outbox.enabled },
      homeassistant: config.homeassistant,
      http: { enabled: config.http.enabled, host: config.http.host, port: config.http.port },
      cluster: config.cluster,
    },
  };
}
