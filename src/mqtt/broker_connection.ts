/**
 * One MQTT client connection that survives outages: capped exponential
 * reconnect backoff with jitter, and queued QoS 1 messages kept across
 * reconnects.
 *
 * mqtt.js only retries at a fixed period, so its own reconnect is disabled
 * and `reconnect()` is called after each backoff delay. The client's message
 * stores are created here and handed back on every reconnect, which keeps
 * unacknowledged QoS 1 publishes queued instead of dropping them.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import type { BrokerConfig } from "../config/schema.ts";
import { redactUrl } from "../config/redact.ts";
import { Backoff } from "../runtime/backoff.ts";
import { explainConnectError } from "./connect_error.ts";
import { KeepaliveTimer } from "./keepalive_timer.ts";

/** Options of a broker connection. */
export interface BrokerConnectionOptions {
  /** Broker name used in log lines, e.g. `internal`. */
  readonly name: string;
  /** The broker's key in `config.yaml`, for hints in error messages (default `<name>_broker`). */
  readonly configKey?: string;
  readonly broker: BrokerConfig;
  /** Client id; stable across restarts so brokers can recognise the bridge. */
  readonly clientId: string;
  readonly clean?: boolean;
  /**
   * Whether QoS 1 publishes not acknowledged before a disconnect are sent
   * again after the reconnect (default true). Off for a caller that resends
   * them itself, in its own order.
   */
  readonly resendAfterReconnect?: boolean;
  readonly will?: IClientOptions["will"];
  readonly log: Logger;
  readonly reconnectInitialMs?: number;
  readonly reconnectMaxMs?: number;
}

/** A supervised MQTT client with backoff reconnects. */
export class BrokerConnection {
  readonly client: MqttClient;
  readonly #options: BrokerConnectionOptions;
  readonly #backoff: Backoff;
  readonly #stores = { incomingStore: new mqtt.Store(), outgoingStore: new mqtt.Store() };
  #retry: ReturnType<typeof setTimeout> | undefined;
  #stopping = false;
  #lastError = "";

  constructor(options: BrokerConnectionOptions) {
    this.#options = options;
    this.#backoff = new Backoff({
      initialMs: options.reconnectInitialMs ?? 500,
      maxMs: options.reconnectMaxMs ?? 30_000,
    });
    const { broker, log, name } = options;
    this.client = mqtt.connect(broker.url, {
      clientId: options.clientId,
      username: broker.username,
      password: broker.password,
      clean: options.clean ?? true,
      will: options.will,
      protocolVersion: 4,
      keepalive: 30,
      connectTimeout: 10_000,
      reconnectPeriod: 0,
      resubscribe: false,
      ca: broker.tls.ca,
      cert: broker.tls.cert,
      key: broker.tls.key,
      rejectUnauthorized: broker.tls.verify,
      // mqtt.js traces every packet through `debug`, which costs a few percent of the
      // message path even when tracing is off; the bridge logs what matters itself.
      log: () => {},
      // By default mqtt-packet builds a table of 65,536 two-byte buffers for message ids and
      // lengths on its first write: about 8 MB of heap in each worker that connects, for a
      // saving of one small allocation per packet.
      writeCache: false,
      // mqtt.js restarts its keepalive interval on every acknowledgement received; this timer
      // does so without a new platform timer each time.
      timerVariant: new KeepaliveTimer(),
      ...this.#stores,
    });
    if (!broker.tls.verify && /^(mqtts|ssl|wss):/.test(broker.url)) {
      log.warn(
        "TLS certificate verification for the {broker} broker is off (tls.verify: false): " +
          "anyone on the path can impersonate it",
        { broker: name },
      );
    }
    this.client.on("connect", () => {
      // Nagle's algorithm would hold a small PUBLISH or PUBACK back until the peer's
      // delayed ACK (up to 40 ms); readings are small and latency matters more.
      (this.client.stream as { setNoDelay?: (noDelay: boolean) => void }).setNoDelay?.(true);
      this.#backoff.reset();
      this.#lastError = "";
      log.info("Connected to {broker} broker {url}", { broker: name, url: redactUrl(broker.url) });
    });
    this.client.on("error", (error) => {
      this.#lastError = explainConnectError(options.configKey ?? `${name}_broker`, error);
    });
    this.client.on("close", () => this.#scheduleReconnect());
  }

  /** Whether the client is connected now. */
  get connected(): boolean {
    return this.client.connected;
  }

  #scheduleReconnect(): void {
    if (this.#stopping || this.#retry !== undefined) return;
    const delay = this.#backoff.next();
    const { broker, log, name } = this.#options;
    log.warn("{broker} broker {url} unreachable{error}; retrying in {seconds} s", {
      broker: name,
      url: redactUrl(broker.url),
      error: this.#lastError === "" ? "" : ` (${this.#lastError})`,
      seconds: (delay / 1000).toFixed(1),
    });
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.#stopping) return;
      if (this.#options.resendAfterReconnect === false) {
        // Forget what mqtt.js kept for resending (its callbacks fail with "Connection
        // closed"), or a stale copy could follow a newer message, and end() would wait
        // for its acknowledgement forever.
        (this.client as unknown as { _flush(): void })._flush();
        this.#stores.outgoingStore = new mqtt.Store();
      }
      this.client.reconnect(this.#stores);
    }, delay);
  }

  /**
   * Closes the connection. Unless `force`, waits (up to `timeoutMs`) for
   * in-flight QoS 1 publishes to be acknowledged and sends DISCONNECT, so the
   * broker does not publish the last will.
   */
  async stop(options: { force?: boolean; timeoutMs?: number } = {}): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    const graceful = new Promise<void>((resolve) => {
      this.client.end(options.force ?? !this.client.connected, {}, () => resolve());
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), options.timeoutMs ?? 3000);
    });
    const outcome = await Promise.race([graceful, deadline]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      await new Promise<void>((resolve) => this.client.end(true, {}, () => resolve()));
    }
  }
}
