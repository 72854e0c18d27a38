/**
 * Events between workers of one bridge that run in different processes (a
 * replica's proxy and the configuration-flow process), carried on the
 * central broker: each worker reads `<root>/bridge/cluster/<its name>`, and
 * an event for a worker that is not in this process is published there.
 * Incoming events are checked against {@link ClusterEvent}; anything else is
 * logged (rate limited) and dropped.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { MqttClient } from "mqtt";
import { LogRateLimiter } from "../logging/rate_limit.ts";
import { centralMessage } from "../protocol/central_message.ts";
import {
  CLUSTER_EVENT_RECIPIENT,
  type ClusterEvent,
  clusterTopic,
  type ClusterWorker,
  isClusterEventType,
  parseClusterEvent,
} from "../protocol/cluster.ts";
import type { BridgeEvent } from "../worker/messages.ts";

/** Routes events to workers in other processes and receives theirs. */
export class ClusterLink {
  readonly #inbox: string;
  readonly #limiter = new LogRateLimiter(10, 60_000);

  /**
   * @param self the worker this link belongs to
   * @param remote the workers of this bridge that run in other processes
   * @param deliver hands a received event to the worker
   */
  constructor(
    readonly client: MqttClient,
    readonly root: string,
    readonly self: ClusterWorker,
    readonly remote: readonly ClusterWorker[],
    readonly deliver: (event: ClusterEvent) => void,
    readonly log: Logger,
  ) {
    this.#inbox = clusterTopic(root, self);
  }

  /** Whether any worker this one talks to runs elsewhere. */
  get active(): boolean {
    return this.remote.length > 0;
  }

  /** The inbox to subscribe to (QoS 1) once connected, if any peer runs elsewhere. */
  get filters(): string[] {
    return this.active ? [this.#inbox] : [];
  }

  /**
   * Sends an event to its worker in another process; returns false when the
   * event is not for a remote worker (the caller then delivers it locally).
   */
  send(event: BridgeEvent): boolean {
    if (!isClusterEvent(event)) return false;
    const recipient = CLUSTER_EVENT_RECIPIENT[event.type];
    if (!this.remote.includes(recipient)) return false;
    const { topic, payload } = centralMessage(
      "cluster",
      { root: this.root, worker: recipient },
      event,
    );
    this.client.publish(topic, payload, { qos: 1 });
    return true;
  }

  /** Takes a message from the central broker; returns whether it was for this link. */
  onMessage(topic: string, payload: Uint8Array): boolean {
    if (topic !== this.#inbox) return false;
    const event = parseClusterEvent(payload);
    if (event === undefined || CLUSTER_EVENT_RECIPIENT[event.type] !== this.self) {
      const suppressed = this.#limiter.admit("invalid", Date.now());
      if (suppressed !== undefined) {
        this.log.warn("Ignoring an invalid cluster event on {topic} ({suppressed} suppressed)", {
          topic,
          suppressed,
        });
      }
      return true;
    }
    this.deliver(event);
    return true;
  }
}

/** Whether an event may cross to another process. */
function isClusterEvent(event: BridgeEvent): event is Extract<BridgeEvent, ClusterEvent> {
  return isClusterEventType(event.type);
}
