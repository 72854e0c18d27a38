/**
 * What a topic on the central broker is, read from its levels: the one place
 * central topics are taken apart (they are built in {@link ./topics.ts}).
 * Pure: no I/O.
 *
 * @module
 */
import { ClusterWorker } from "./cluster.ts";
import type { ReadingLevel } from "./uplink.ts";

const LEVELS: ReadonlySet<string> = new Set<ReadingLevel>(["seconds", "minutes", "day"]);

const RELAY_SET = "/relay/set";

/** A central topic, by kind. Ids are the raw topic levels: the caller checks them. */
export type CentralTopic =
  /** `<root>/bridge/cluster/<worker>`: events for a worker in another process. */
  | { readonly kind: "cluster"; readonly worker: ClusterWorker }
  /** `<root>/discovery/<id>`: a meter's announcement (cleared when empty). */
  | { readonly kind: "announcement"; readonly id: string }
  /** `<root>/bridge/request/<action>`: a bridge API request. */
  | { readonly kind: "request"; readonly action: string }
  /** `<root>/<id>/relay/set`: a relay switch command. */
  | { readonly kind: "relay_set"; readonly id: string }
  /** `<root>/<id>/<level>`: a meter's readings. */
  | { readonly kind: "reading"; readonly id: string; readonly level: ReadingLevel }
  /** Home Assistant's birth and last-will topic (`homeassistant.status_topic`). */
  | { readonly kind: "home_assistant_status" }
  /** Anything else, e.g. a Home Assistant discovery configuration. */
  | { readonly kind: "other" };

/**
 * Reads a topic of the central broker under `root`. `statusTopic` is Home
 * Assistant's status topic, if it is followed. The kinds are checked in the
 * order listed in {@link CentralTopic}.
 */
export function parseCentralTopic(root: string, topic: string, statusTopic?: string): CentralTopic {
  const prefix = `${root}/`;
  const rest = topic.startsWith(prefix) ? topic.slice(prefix.length) : undefined;
  if (rest !== undefined) {
    if (rest.startsWith("bridge/cluster/")) {
      const worker = ClusterWorker.safeParse(rest.slice("bridge/cluster/".length));
      if (worker.success) return { kind: "cluster", worker: worker.data };
    }
    if (rest.startsWith("discovery/")) {
      return { kind: "announcement", id: rest.slice(rest.lastIndexOf("/") + 1) };
    }
    if (rest.startsWith("bridge/request/")) {
      return { kind: "request", action: rest.slice("bridge/request/".length) };
    }
    if (topic.endsWith(RELAY_SET) && rest.length >= RELAY_SET.length) {
      return { kind: "relay_set", id: rest.slice(0, rest.length - RELAY_SET.length) };
    }
  }
  if (statusTopic !== undefined && topic === statusTopic) return { kind: "home_assistant_status" };
  if (rest !== undefined) {
    const levels = rest.split("/");
    const id = levels[0];
    const level = levels[1];
    if (levels.length === 2 && id !== undefined && level !== undefined && LEVELS.has(level)) {
      return { kind: "reading", id, level: level as ReadingLevel };
    }
  }
  return { kind: "other" };
}
