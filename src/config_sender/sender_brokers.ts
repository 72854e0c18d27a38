/**
 * The configuration flow's broker edge: the internal connection (commands
 * out, replies in), the central one (announcements in) and the cluster link
 * on it (events from and for proxies in other processes). Thin: messages go
 * to a {@link SenderInbox}, events to the flow.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import { clientId } from "../cluster/client_id.ts";
import { ClusterLink } from "../cluster/cluster_link.ts";
import { logger } from "../logging/setup.ts";
import { BrokerConnection } from "../mqtt/broker_connection.ts";
import type { ClusterEvent } from "../protocol/cluster.ts";
import { COMMAND_REPLY_TOPICS, type MeterCommand } from "../protocol/commands.ts";
import { announcementFilter } from "../protocol/topics.ts";
import type { BridgeEvent } from "../worker/messages.ts";
import type { WorkerContext } from "../worker/worker_runtime.ts";
import type { SenderInbox } from "./sender_inbox.ts";

const log = logger("config_sender");

/** The two broker connections of the configuration flow. */
export class SenderBrokers {
  readonly #internal: BrokerConnection;
  readonly #central: BrokerConnection;
  /** Events from and for proxies in other processes. */
  readonly #link: ClusterLink;

  /**
   * `topics.root` is read once: changing it takes a restart.
   *
   * @param deliver takes an event from a proxy in another process
   */
  constructor(
    config: Config,
    context: WorkerContext,
    inbox: SenderInbox,
    deliver: (event: ClusterEvent) => void,
  ) {
    this.#internal = new BrokerConnection({
      name: "internal",
      broker: config.internal_broker,
      clientId: clientId(config, "internal_broker", "config-internal"),
      log,
    });
    this.#central = new BrokerConnection({
      name: "central",
      broker: config.central_broker,
      clientId: clientId(config, "central_broker", "config-central"),
      log,
    });
    this.#internal.client.on("connect", () => {
      this.#internal.client.subscribe([...COMMAND_REPLY_TOPICS], { qos: 1 }, (error) => {
        if (error) {
          log.error("Subscribing to command replies failed: {error}", { error: error.message });
        }
      });
    });
    this.#internal.client.on("message", (topic, payload) => inbox.onReply(topic, payload));
    const root = config.topics.root;
    this.#link = new ClusterLink(
      this.#central.client,
      root,
      "config_sender",
      context.remote,
      deliver,
      log,
    );
    this.#central.client.on("connect", () => {
      this.#central.client.subscribe(
        [announcementFilter(root), ...this.#link.filters],
        { qos: 1 },
      );
    });
    this.#central.client.on("message", (topic, payload) => {
      if (!this.#link.onMessage(topic, payload)) inbox.onAnnouncement(topic, payload);
    });
  }

  /** Publishes a command (QoS 1) on the internal broker; a failure is logged. */
  publish(command: MeterCommand): void {
    this.#internal.client.publish(command.topic, command.payload, { qos: 1 }, (error) => {
      if (error) {
        log.warn("Publishing {topic} failed: {error}", {
          topic: command.topic,
          error: error.message,
        });
      }
    });
  }

  /** Sends an event to a proxy in another process; false: it is for this process. */
  sendRemote(event: BridgeEvent): boolean {
    return this.#link.send(event);
  }

  /** Closes both connections, each within `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    await Promise.all([
      this.#internal.stop({ timeoutMs }),
      this.#central.stop({ timeoutMs }),
    ]);
  }
}
