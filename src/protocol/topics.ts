/**
 * Central broker topics and the payloads published on them: the functions
 * that build topic strings, and the payload schemas. Which payload goes on
 * which topic is mapped in {@link ./central_message.ts}.
 *
 * @module
 */
import { z } from "zod";
import { MeterId } from "./meter_id.ts";
import { ClusterName } from "./cluster.ts";
import type { ReadingLevel } from "./uplink.ts";

/**
 * The topic root, e.g. `kpm33b` or `site1/kpm33b`: levels of letters, digits,
 * `_` and `-`, so no wildcard, empty level or `$` prefix can appear.
 */
export const TopicRoot = z.string().regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/, {
  error: "topic root must be levels of A-Z a-z 0-9 _ - separated by single '/', e.g. kpm33b",
});

/** Bridge availability, plain strings as Home Assistant expects. */
export const BridgeState = z.enum(["online", "offline"]);
/** Bridge availability. */
export type BridgeState = z.infer<typeof BridgeState>;

/** Retained announcement of a meter on `<root>/discovery/<id>`. */
export const MeterAnnouncement = z.object({
  id: MeterId,
  model: z.string(),
  first_seen: z.iso.datetime({ offset: true }),
  /** With replicas (`cluster.share_group`): the replica that handles the meter now… */
  bridge: ClusterName.optional(),
  /** …since when… */
  bridge_since: z.iso.datetime({ offset: true }).optional(),
  /** …and how many times the meter was claimed: of two claims the higher count holds. */
  claim: z.number().int().min(1).optional(),
});
/** Retained announcement of a meter. */
export type MeterAnnouncement = z.infer<typeof MeterAnnouncement>;

/** Payload of `<root>/<id>/io`: digital inputs and outputs as `ON` / `OFF`. */
export const IoPayload = z.object({
  di1: z.enum(["ON", "OFF"]),
  di2: z.enum(["ON", "OFF"]),
  do1: z.enum(["ON", "OFF"]),
  do2: z.enum(["ON", "OFF"]),
  /** Raw `DI@DO` bit masks as the meter sent them. */
  raw: z.string(),
});
/** Payload of `<root>/<id>/io`. */
export type IoPayload = z.infer<typeof IoPayload>;

/** Payload of `<root>/bridge/info` (retained). */
export const BridgeInfo = z.object({
  version: z.string(),
  started_at: z.iso.datetime(),
  uptime_seconds: z.number().int(),
  /** Meters this bridge (or replica) handles. */
  meters: z.number().int(),
  /** Of those, the ones whose availability is `online`. */
  meters_online: z.number().int(),
  /** The running configuration without credentials. */
  config: z.record(z.string(), z.unknown()),
});
/** Payload of `<root>/bridge/info`. */
export type BridgeInfo = z.infer<typeof BridgeInfo>;

/** `<root>/<id>/<leaf>`: a per-meter topic other than readings, e.g. `availability`. */
export function meterTopic(root: string, id: MeterId, leaf: string): string {
  return `${root}/${id}/${leaf}`;
}

/** `<root>/+/relay/set`: relay switch commands of every meter. */
export function relaySetFilter(root: string): string {
  return `${root}/+/relay/set`;
}

/** `<root>/bridge/<leaf>`: a bridge topic, e.g. `info` or `meters`. */
export function bridgeTopic(root: string, leaf: string): string {
  return `${root}/bridge/${leaf}`;
}

/** `<root>/<id>/<level>`: a meter's readings. */
export function readingTopic(root: string, id: MeterId, level: ReadingLevel): string {
  return `${root}/${id}/${level}`;
}

/** `<root>/discovery/<id>`: a meter's announcement. */
export function announcementTopic(root: string, id: MeterId): string {
  return `${root}/discovery/${id}`;
}

/** `<root>/discovery/+`: every meter's announcement. */
export function announcementFilter(root: string): string {
  return `${root}/discovery/+`;
}
