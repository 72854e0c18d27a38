/**
 * Central broker topics and their payloads: one type map from each topic to
 * what is published on it, and the only functions that build topic strings.
 *
 * @module
 */
import { z } from "zod";
import { MeterId } from "./meter_id.ts";
import type { ReadingPayload } from "./transform.ts";
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
});
/** Retained announcement of a meter. */
export type MeterAnnouncement = z.infer<typeof MeterAnnouncement>;

/** Payload type of each central topic, by topic leaf. */
export interface CentralPayloads {
  "<id>/seconds": ReadingPayload;
  "<id>/minutes": ReadingPayload;
  "<id>/day": ReadingPayload;
  "discovery/<id>": MeterAnnouncement;
  "bridge/state": BridgeState;
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

/** `<root>/bridge/state`: the bridge's availability. */
export function bridgeStateTopic(root: string): string {
  return `${root}/bridge/state`;
}

/** `<root>/bridge/outbox`: depth, size and drops of the outbox (retained JSON). */
export function outboxStatusTopic(root: string): string {
  return `${root}/bridge/outbox`;
}
