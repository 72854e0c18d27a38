/**
 * Running the bridge as several processes: replicas that share the meters'
 * topics through MQTT shared subscriptions, and one process for the
 * configuration flow. What crosses between them travels on the central
 * broker under `<root>/bridge/cluster/`; this module has the topics and the
 * schema every such event is checked against. Pure: no I/O.
 *
 * @module
 */
import { z } from "zod";
import { MeterCommandRequest } from "./bridge_api.ts";
import { MeterId } from "./meter_id.ts";
import { MeterConfigSummary } from "./meter_status.ts";

/** A name in a topic level: a replica or a share group. */
export const ClusterName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, {
  error: "must be 1-64 characters A-Z a-z 0-9 _ . -",
});

/** The workers that may run in another process of the same bridge. */
export const ClusterWorker = z.enum(["proxy", "config_sender"]);
/** A worker that may run in another process. */
export type ClusterWorker = z.infer<typeof ClusterWorker>;

/** The outcome of a request carried out by another worker or the supervisor. */
export const RequestResult = z.union([
  z.strictObject({ ok: z.literal(true), data: z.record(z.string(), z.unknown()) }),
  z.strictObject({ ok: z.literal(false), error: z.string().max(4096) }),
]);
/** The outcome of a request. */
export type RequestResult = z.infer<typeof RequestResult>;

const RequestId = z.string().min(1).max(128);

/** An event that may travel between the processes of one bridge. */
export const ClusterEvent = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("clock_drift"), id: MeterId, drift_seconds: z.number() }),
  z.strictObject({
    type: z.literal("command_request"),
    request: RequestId,
    command: MeterCommandRequest,
    /**
     * When the requester answers on its own (epoch ms): nothing of the
     * request may reach the meter after it. Absent from older replicas.
     */
    expires_at: z.number().int().positive().optional(),
  }),
  z.strictObject({ type: z.literal("command_result"), request: RequestId, result: RequestResult }),
  z.strictObject({ type: z.literal("meter_config"), id: MeterId, summary: MeterConfigSummary }),
  z.strictObject({ type: z.literal("resync") }),
]);
/** An event that may travel between processes. */
export type ClusterEvent = z.infer<typeof ClusterEvent>;

/** Which worker each cluster event is for. */
export const CLUSTER_EVENT_RECIPIENT: Readonly<Record<ClusterEvent["type"], ClusterWorker>> = {
  clock_drift: "config_sender",
  command_request: "config_sender",
  command_result: "proxy",
  meter_config: "proxy",
  resync: "config_sender",
};

/** Whether an event type may cross to another process. */
export function isClusterEventType(type: string): type is ClusterEvent["type"] {
  return Object.hasOwn(CLUSTER_EVENT_RECIPIENT, type);
}

/** Largest cluster event accepted (a meter summary with a long error is well below). */
export const MAX_CLUSTER_EVENT_BYTES = 16_384;

/** `<root>/bridge/cluster/<worker>`: events for a worker running in another process. */
export function clusterTopic(root: string, worker: ClusterWorker): string {
  return `${root}/bridge/cluster/${worker}`;
}

/** `$share/<group>/<filter>`: one subscriber of the group gets each message. */
export function sharedFilter(group: string, filter: string): string {
  return `$share/${group}/${filter}`;
}

/** `<root>/bridge/replicas/<replica>/<leaf>`: a topic of one replica, e.g. its `state`. */
export function replicaTopic(root: string, replica: string, leaf: string): string {
  return `${root}/bridge/replicas/${replica}/${leaf}`;
}

/** Parses a cluster event; `undefined` for anything that is not one. */
export function parseClusterEvent(payload: Uint8Array): ClusterEvent | undefined {
  if (payload.byteLength > MAX_CLUSTER_EVENT_BYTES) return undefined;
  try {
    const parsed = ClusterEvent.safeParse(JSON.parse(new TextDecoder().decode(payload)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
