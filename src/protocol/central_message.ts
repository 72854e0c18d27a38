/**
 * Every message the bridge publishes on the central broker, by kind: the one
 * map from a kind to its topic and its payload type. A message is built only
 * through {@link centralMessage}, so a payload that does not fit its topic is
 * a type error. Pure: no I/O.
 *
 * @module
 */
import type { ApiResponse } from "./bridge_api.ts";
import { responseTopic } from "./bridge_api.ts";
import { type ClusterEvent, clusterTopic, type ClusterWorker, replicaTopic } from "./cluster.ts";
import type { MeterId } from "./meter_id.ts";
import type { Availability, MeterStatus, RelayState } from "./meter_status.ts";
import {
  announcementTopic,
  type BridgeInfo,
  type BridgeState,
  bridgeTopic,
  type IoPayload,
  type MeterAnnouncement,
  meterTopic,
  readingTopic,
} from "./topics.ts";
import type { ReadingPayload } from "./transform.ts";
import type { ReadingLevel } from "./uplink.ts";

declare const jsonOf: unique symbol;

/**
 * JSON text of a `T`, for payloads encoded ahead of publishing (readings are
 * written by hand on the per-message path; discovery configurations are
 * compared by digest before they are sent).
 */
export type JsonText<T> = string & { readonly [jsonOf]: T };

/** Encodes `value` as {@link JsonText}. */
export function jsonText<T>(value: T): JsonText<T> {
  return JSON.stringify(value) as JsonText<T>;
}

/** A Home Assistant discovery configuration. */
export type DiscoveryConfig = Readonly<Record<string, unknown>>;

/** Payload of `<root>/bridge/outbox` (retained). */
export interface OutboxReport {
  readonly depth: number;
  readonly bytes: number;
  readonly dropped: number;
  /** When the oldest entry was accepted, ISO 8601; null when empty. */
  readonly oldest: string | null;
  readonly durable: boolean;
  /** What was found wrong with the outbox at start, until acknowledged. */
  readonly problem: object | null;
}

/** Where a meter's message goes. */
export interface MeterParams {
  readonly root: string;
  readonly id: MeterId;
}

/** Where a bridge topic goes: with replicas each has its own (`cluster.share_group`). */
export interface BridgeParams {
  readonly root: string;
  /** This replica's name; undefined for a bridge alone. */
  readonly replica?: string;
}

interface Kind<P, T> {
  topic(params: P): string;
  encode(payload: T): string;
}

function kind<P, T>(topic: (params: P) => string, encode: (payload: T) => string): Kind<P, T> {
  return { topic, encode };
}

const json = <T>(payload: T): string => JSON.stringify(payload);
const text = <T extends string>(payload: T): string => payload;
const encoded = <T>(payload: JsonText<T>): string => payload;

const meter = (leaf: string) => (params: MeterParams) => meterTopic(params.root, params.id, leaf);

/** `<root>/bridge/<leaf>`, or with replicas `<root>/bridge/replicas/<replica>/<leaf>`. */
const bridge = (leaf: string) => (params: BridgeParams) =>
  params.replica === undefined
    ? bridgeTopic(params.root, leaf)
    : replicaTopic(params.root, params.replica, leaf);

/** Each kind of central message: its topic and how its payload is encoded. */
export const CENTRAL_MESSAGES = {
  /** `<root>/<id>/<level>`: a reading. */
  reading: kind(
    (params: MeterParams & { readonly level: ReadingLevel }) =>
      readingTopic(params.root, params.id, params.level),
    encoded<ReadingPayload>,
  ),
  /** `<root>/discovery/<id>` (retained): a meter's announcement. */
  announcement: kind(
    (params: MeterParams) => announcementTopic(params.root, params.id),
    json<MeterAnnouncement>,
  ),
  /** `<root>/<id>/availability` (retained). */
  availability: kind(meter("availability"), text<Availability>),
  /** `<root>/<id>/status` (retained). */
  status: kind(meter("status"), json<MeterStatus>),
  /** `<root>/<id>/io` (retained): digital inputs and outputs. */
  io: kind(meter("io"), json<IoPayload>),
  /** `<root>/<id>/relay` (retained): the relay's state. */
  relay: kind(meter("relay"), text<RelayState>),
  /** `<root>/<id>/relay/result`: the answer to a relay switch command. */
  relay_result: kind(meter("relay/result"), json<ApiResponse>),
  /** `<root>/bridge/state` (retained; a replica's own with replicas). */
  bridge_state: kind(bridge("state"), text<BridgeState>),
  /** `<root>/bridge/info` (retained; a replica's own with replicas). */
  bridge_info: kind(bridge("info"), json<BridgeInfo>),
  /** `<root>/bridge/outbox` (retained; a replica's own with replicas). */
  bridge_outbox: kind(bridge("outbox"), json<OutboxReport>),
  /** `<root>/bridge/meters` (retained; a replica's own with replicas). */
  bridge_meters: kind(bridge("meters"), json<readonly MeterStatus[]>),
  /** `<root>/bridge/response/<action>`: the answer to a bridge API request. */
  api_response: kind(
    (params: { readonly root: string; readonly action: string }) =>
      responseTopic(params.root, params.action),
    json<ApiResponse>,
  ),
  /** A Home Assistant discovery configuration (retained), on the topic it was built for. */
  discovery_config: kind(
    (params: { readonly topic: string }) => params.topic,
    encoded<DiscoveryConfig>,
  ),
  /** `<root>/bridge/cluster/<worker>`: an event for a worker in another process. */
  cluster: kind(
    (params: { readonly root: string; readonly worker: ClusterWorker }) =>
      clusterTopic(params.root, params.worker),
    json<ClusterEvent>,
  ),
} as const;

/** A kind of central message. */
export type CentralKind = keyof typeof CENTRAL_MESSAGES;

/** What the topic of a kind is built from. */
export type CentralParams<K extends CentralKind> = Parameters<
  (typeof CENTRAL_MESSAGES)[K]["topic"]
>[0];

/** The payload type of a kind, before encoding. */
export type CentralPayload<K extends CentralKind> = Parameters<
  (typeof CENTRAL_MESSAGES)[K]["encode"]
>[0];

/** The payload type of each kind. */
export type CentralPayloads = { [K in CentralKind]: CentralPayload<K> };

/** Kinds published retained, which are cleared with an empty payload. */
export type ClearableKind =
  | "announcement"
  | "availability"
  | "status"
  | "io"
  | "relay"
  | "discovery_config";

declare const built: unique symbol;

/** A message ready to publish: made by {@link centralMessage} or {@link clearMessage} only. */
export interface CentralMessage {
  readonly topic: string;
  readonly payload: string;
  readonly [built]: true;
}

/** The topic of a message of `kind`. */
export function centralTopic<K extends CentralKind>(kind: K, params: CentralParams<K>): string {
  return (CENTRAL_MESSAGES[kind] as Kind<CentralParams<K>, unknown>).topic(params);
}

/** A message of `kind`: its topic from `params`, its payload encoded. */
export function centralMessage<K extends CentralKind>(
  kind: K,
  params: CentralParams<K>,
  payload: CentralPayload<K>,
): CentralMessage {
  const entry = CENTRAL_MESSAGES[kind] as Kind<CentralParams<K>, CentralPayload<K>>;
  return { topic: entry.topic(params), payload: entry.encode(payload) } as CentralMessage;
}

/** The empty retained message that clears a topic of `kind`. */
export function clearMessage<K extends ClearableKind>(
  kind: K,
  params: CentralParams<K>,
): CentralMessage {
  return { topic: centralTopic(kind, params), payload: "" } as CentralMessage;
}
