/**
 * One simulated meter's (or a group of meters') MQTT connection, behaving
 * like a meter's firmware across reconnects: after every CONNACK it first
 * subscribes to its command topics, and only once the SUBACK is in does it
 * publish again — first what the broker had not acknowledged, then what was
 * taken while it was away.
 *
 * mqtt.js alone would not: on a reconnect it replays its unacknowledged QoS 1
 * messages one at a time, each waiting for its PUBACK, before it sends
 * anything else, its re-subscription included. The embedded meters' broker
 * answers a reading only once the bridge stored it (up to 20 s while the
 * bridge starts), so the meter would publish again, look online, and miss
 * every command sent meanwhile (clean session: the broker keeps nothing for it).
 *
 * Connection changes and refused subscriptions (SUBACK 0x80) are logged.
 *
 * @module
 */
import mqtt, { type ClientSubscribeCallback, type MqttClient } from "mqtt";

/** Where a simulator's lines go: `info` to stdout, `warn` (problems) to stderr by default. */
export interface SimulatorLog {
  info(line: string): void;
  warn(line: string): void;
}

/** Prints like the simulator's command line: problems on stderr, the rest on stdout. */
export const CONSOLE_LOG: SimulatorLog = {
  info: (line) => console.log(line),
  warn: (line) => console.warn(line),
};

/** How a connection is made. */
export interface MeterConnectionOptions {
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  /** A meter's own client id: two connections with one id take each other over. */
  readonly clientId: string;
  /** Command topics subscribed (QoS 1) after every connect. */
  readonly topics: readonly string[];
  /** Names the connection in log lines, e.g. `meter 33B1225950027`. */
  readonly label: string;
  /** Pause between reconnect attempts, ms (default 1000). */
  readonly reconnectPeriodMs?: number;
  /** Messages kept while not connected at most; the oldest beyond are dropped (default 10,000). */
  readonly maxQueued?: number;
  /** Topics per SUBSCRIBE packet (default 1000). */
  readonly subscribeChunk?: number;
  readonly log?: SimulatorLog;
}

/** A message to publish (QoS 1) and who waits for its PUBACK. */
interface Outgoing {
  readonly topic: string;
  readonly payload: string;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  /** The connection it was handed to mqtt.js on; its outcome there counts only then. */
  generation?: number;
}

/** How long the first CONNACK may take (mqtt.js's default, named for messages). */
export const CONNECT_TIMEOUT_MS = 30_000;

/** Connections this short that ended by the broker count towards the takeover warning. */
const SHORT_CONNECTION_MS = 5000;

/** Short connections in a row that make the takeover warning. */
const SHORT_CONNECTIONS_WARNED = 3;

/** A meter's connection that re-subscribes before it publishes, on every connect. */
export class MeterConnection {
  /** Connections made (CONNACKs received). */
  connects = 0;
  /** Connections lost (not counting {@link close}). */
  losses = 0;
  /** Subscriptions the broker refused on the last connect. */
  refused: string[] = [];
  /** Messages dropped because more than `maxQueued` waited for a connection. */
  dropped = 0;
  readonly client: MqttClient;
  readonly #options: MeterConnectionOptions;
  readonly #log: SimulatorLog;
  /** Connected and subscribed: messages go out at once. */
  #ready = false;
  #readyWaiters: Array<() => void> = [];
  /** Bumped at every connect and loss: outcomes of an earlier connection are stale. */
  #generation = 0;
  /** Handed to mqtt.js on this connection and not acknowledged yet, in send order. */
  readonly #inFlight = new Set<Outgoing>();
  /** Waiting for the next subscribed connection, in order. */
  #queue: Outgoing[] = [];
  #connectedAt = 0;
  #shortInARow = 0;
  #closing = false;

  private constructor(options: MeterConnectionOptions) {
    this.#options = options;
    this.#log = options.log ?? CONSOLE_LOG;
    this.client = mqtt.connect(options.url, {
      clientId: options.clientId,
      username: options.username,
      password: options.password,
      reconnectPeriod: options.reconnectPeriodMs ?? 1000,
      connectTimeout: CONNECT_TIMEOUT_MS,
      // Subscribed by hand after each connect, before anything is published.
      resubscribe: false,
    });
    // Without a listener an "error" event (refused reconnect attempts) would end the process.
    this.client.on("error", (error) => this.#onError(error));
    this.client.on("connect", () => this.#onConnect());
    this.client.on("close", () => this.#onClose());
  }

  /**
   * Connects and subscribes; rejects with the broker's or the network's error
   * if the first attempt fails (the connection is then closed).
   */
  static open(options: MeterConnectionOptions): Promise<MeterConnection> {
    const connection = new MeterConnection(options);
    return new Promise((resolve, reject) => {
      const failed = (error: Error) => {
        connection.client.off("error", failed);
        connection.close().then(() => reject(error), () => reject(error));
      };
      connection.client.on("error", failed);
      connection.#readyWaiters.push(() => {
        connection.client.off("error", failed);
        resolve(connection);
      });
    });
  }

  /** Whether the connection is up and its command subscriptions are in place. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Messages waiting for a connection. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Publishes with QoS 1; resolves once the broker acknowledged it, also
   * after reconnects. Rejects when the message is dropped or the connection closed.
   */
  publish(topic: string, payload: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const message: Outgoing = { topic, payload, resolve, reject };
      if (this.#closing) return reject(new Error("the connection is closed"));
      if (this.#ready) return this.#send(message);
      this.#queue.push(message);
      const max = this.#options.maxQueued ?? 10_000;
      if (this.#queue.length > max) {
        this.dropped++;
        this.#queue.shift()!.reject(new Error(`more than ${max} messages waited for a connection`));
      }
    });
  }

  /** Disconnects; messages not acknowledged yet are rejected. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#ready = false;
    const abandoned = [...this.#inFlight, ...this.#queue];
    this.#inFlight.clear();
    this.#queue = [];
    const error = new Error("the connection is closed");
    for (const message of abandoned) message.reject(error);
    await this.client.endAsync(true);
  }

  #send(message: Outgoing): void {
    const generation = this.#generation;
    message.generation = generation;
    this.#inFlight.add(message);
    this.client.publish(message.topic, message.payload, { qos: 1 }, (error) => {
      // Taken back at a loss (and re-queued), or abandoned by close(): not this callback's.
      if (message.generation !== generation || !this.#inFlight.delete(message)) return;
      if (error) message.reject(error);
      else message.resolve();
    });
  }

  #onConnect(): void {
    const generation = ++this.#generation;
    this.connects++;
    this.#connectedAt = Date.now();
    const { topics } = this.#options;
    const chunk = this.#options.subscribeChunk ?? 1000;
    const chunks: string[][] = [];
    for (let i = 0; i < topics.length; i += chunk) chunks.push(topics.slice(i, i + chunk));
    const refused: string[] = [];
    let pending = chunks.length;
    const subscribed = () => {
      if (generation !== this.#generation) return;
      this.refused = refused;
      if (refused.length > 0) {
        this.#log.warn(
          `${this.#options.label}: the broker refused the subscription to ${
            refused.join(", ")
          } (SUBACK 0x80): commands on ${
            refused.length === 1 ? "that topic" : "those topics"
          } will not arrive; check the meter credentials and the broker's access rules`,
        );
      }
      this.#becomeReady();
    };
    if (pending === 0) return subscribed();
    for (const list of chunks) {
      const answered: ClientSubscribeCallback = (error, _granted, packet) => {
        if (generation !== this.#generation) return;
        // A refusal arrives as an error with the SUBACK; anything else is a lost connection.
        if (error && packet === undefined) return;
        const codes: ReadonlyArray<number | object> = packet?.granted ?? [];
        list.forEach((topic, i) => {
          const code = codes[i];
          if (typeof code === "number" && (code & 0x80) !== 0) refused.push(topic);
        });
        if (--pending === 0) subscribed();
      };
      this.client.subscribe(list, { qos: 1 }, answered);
    }
  }

  #becomeReady(): void {
    const again = this.connects > 1;
    this.#ready = true;
    if (again) {
      const waiting = this.#queue.length;
      this.#log.info(
        `${this.#options.label}: connected again as ${this.#options.clientId}, subscribed` +
          (waiting > 0 ? `; sending ${waiting} messages not acknowledged before` : ""),
      );
    }
    const queue = this.#queue;
    this.#queue = [];
    for (const message of queue) this.#send(message);
    for (const waiter of this.#readyWaiters.splice(0)) waiter();
  }

  #onClose(): void {
    const wasConnected = this.#connectedAt > 0;
    this.#ready = false;
    if (this.#closing || !wasConnected) return;
    this.#generation++;
    this.losses++;
    const lasted = Date.now() - this.#connectedAt;
    this.#connectedAt = 0;
    // Clean session: what the broker had not acknowledged is sent again once subscribed,
    // not replayed by mqtt.js ahead of the subscription.
    const unacknowledged = [...this.#inFlight];
    this.#inFlight.clear();
    this.#queue = [...unacknowledged, ...this.#queue];
    for (const [id, entry] of Object.entries(this.client.outgoing)) {
      if (entry.cmd === "publish") this.client.removeOutgoingMessage(Number(id));
    }
    this.#shortInARow = lasted < SHORT_CONNECTION_MS ? this.#shortInARow + 1 : 0;
    const period = (this.#options.reconnectPeriodMs ?? 1000) / 1000;
    this.#log.warn(
      `${this.#options.label}: connection lost after ${(lasted / 1000).toFixed(1)} s ` +
        `(broker stopped, network, or another client connected with client id ` +
        `${this.#options.clientId} and took it over); reconnecting every ${period} s`,
    );
    if (this.#shortInARow === SHORT_CONNECTIONS_WARNED) {
      this.#log.warn(
        `${this.#options.label}: ${SHORT_CONNECTIONS_WARNED} connections in a row ended within ` +
          `${SHORT_CONNECTION_MS / 1000} s: is another simulator or meter using client id ` +
          `${this.#options.clientId}? Give each simulator its own meter ids, or its own ` +
          "--client-id-prefix",
      );
    }
  }

  #onError(error: Error): void {
    if (this.#closing || this.connects === 0) return;
    // Refused reconnect attempts repeat every period: the loss was logged once already.
    if ((error as { code?: unknown }).code === "ECONNREFUSED") return;
    this.#log.warn(`${this.#options.label}: ${error.message}`);
  }
}
