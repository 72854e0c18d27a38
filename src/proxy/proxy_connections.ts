/**
 * The proxy's two broker connections and their events. Central: the bridge
 * state's will (`offline`), and no resending after a reconnect (the outbox
 * sends again what was in flight, keeping each meter's order). Internal: a
 * persistent session, since the internal broker keeps readings for the
 * bridge while it is away, subscribed to the session's filters on every
 * connect, with acknowledgements deferred until a reading is safe
 * ({@link deferAcks}). Readings flow while it is connected and subscribed.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { IPublishPacket } from "mqtt";
import { clientId } from "../cluster/client_id.ts";
import type { Config } from "../config/schema.ts";
import { BrokerConnection } from "../mqtt/broker_connection.ts";
import { deferAcks } from "../mqtt/deferred_ack.ts";
import { mqttSubscribePort, type SubscribePort } from "../mqtt/subscribe_port.ts";
import { centralMessage } from "../protocol/central_message.ts";
import type { Publication } from "../outbox/outbox_store.ts";
import type { CentralPort } from "./central_port.ts";
import type { CentralMessage as ReceivedMessage } from "./central_router.ts";
import { proxyInternalSession } from "./internal_session.ts";
import { ownBridge } from "./proxy_settings.ts";
import { subscribeInternal } from "./proxy_subscriptions.ts";

/** What the proxy does on its connections' events. */
export interface ProxyConnectionEvents {
  centralConnected(): void;
  centralClosed(): void;
  centralMessage(message: ReceivedMessage): void;
  /** Readings started or stopped flowing, or the bridge API started listening (`ready`). */
  readyChanged(): void;
  /** A message from the internal broker; `ack` acknowledges it once it is safe. */
  internalMessage(packet: IPublishPacket, ack: () => void): void;
}

/** The central and internal connections, as ports for the proxy's parts. */
export class ProxyConnections {
  readonly central: BrokerConnection;
  readonly internal: BrokerConnection;
  /** Publishing on central, for the parts that publish directly. */
  readonly centralPort: CentralPort;
  readonly centralSubscriptions: SubscribePort;
  readonly #events: ProxyConnectionEvents;
  #readingsFlow = false;
  #apiListens = false;

  constructor(config: Config, events: ProxyConnectionEvents, log: Logger) {
    this.#events = events;
    const session = proxyInternalSession(config);
    const central = new BrokerConnection({
      name: "central",
      broker: config.central_broker,
      clientId: clientId(config, "central_broker", "proxy-central"),
      will: {
        ...centralMessage("bridge_state", ownBridge(config), "offline"),
        qos: 1,
        retain: true,
      },
      resendAfterReconnect: false,
      log,
    });
    const internal = new BrokerConnection({
      name: "internal",
      broker: config.internal_broker,
      clientId: session.clientId,
      clean: false,
      log,
    });
    this.central = central;
    this.internal = internal;
    this.centralPort = {
      connected: () => central.connected,
      publish: ({ topic, payload }, options, done) =>
        central.client.publish(topic, payload, options, (error) => done?.(error)),
    };
    this.centralSubscriptions = mqttSubscribePort(central.client);
    const internalSubscriptions = mqttSubscribePort(internal.client);
    central.client.on("connect", () => {
      this.#apiListens = false;
      events.centralConnected();
    });
    central.client.on("close", () => {
      this.#apiListens = false;
      events.centralClosed();
    });
    central.client.on(
      "message",
      (topic, payload, packet) =>
        events.centralMessage({ topic, payload, retained: packet.retain }),
    );
    internal.client.on(
      "connect",
      () =>
        subscribeInternal(internalSubscriptions, session.filters, () => {
          this.#readingsFlow = true;
          events.readyChanged();
        }, log),
    );
    internal.client.on("close", () => {
      this.#readingsFlow = false;
      events.readyChanged();
    });
    deferAcks(internal.client, (packet, ack) => events.internalMessage(packet, ack));
  }

  /** Whether the internal broker is connected and granted the subscriptions. */
  get readingsFlow(): boolean {
    return this.#readingsFlow;
  }

  /** Central answered the bridge API's subscribe on the current connection. */
  apiSubscribed(): void {
    this.#apiListens = true;
    this.#events.readyChanged();
  }

  /**
   * Readings flow and the bridge API listens: a request sent when the bridge
   * says `online` is answered.
   */
  get ready(): boolean {
    return this.#readingsFlow && this.#apiListens;
  }

  /** Sends an outbox entry to central with QoS 1; `done` once acknowledged or failed. */
  deliver(entry: Publication, done: (error?: Error) => void): void {
    this.central.client.publish(
      entry.topic,
      entry.payload,
      { qos: 1, retain: entry.retain },
      (error) => done(error ?? undefined),
    );
  }
}
