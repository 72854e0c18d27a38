/**
 * An MQTT broker inside the bridge (npm `aedes`), so one process can be the
 * whole gateway. Retained messages and QoS 1 sessions live in memory. With an
 * access policy (the meters' broker) every CONNECT, PUBLISH and SUBSCRIBE is
 * checked against it, and a meter's QoS 1 message is acknowledged only once
 * the bridge has it ({@link AckAfterDelivery}); without one (a local central
 * broker) all clients may do everything. With `maxPayloadBytes` a client
 * sending a larger packet is disconnected as soon as its header arrives.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { Aedes, type AuthenticateError, type Client } from "aedes";
import type { Buffer } from "node:buffer";
import net from "node:net";
import tls from "node:tls";
import { LogRateLimiter } from "../logging/rate_limit.ts";
import type { BridgeSession } from "../proxy/internal_session.ts";
import type { AccessPolicy, Principal } from "./access_policy.ts";
import { AckAfterDelivery } from "./ack_after_delivery.ts";
import { guardConnection } from "./guarded_connection.ts";
import type { OversizedPacket } from "./packet_length_scanner.ts";

/** Where and how an embedded broker listens. */
export interface EmbeddedBrokerOptions {
  /** Name in log lines, e.g. `internal`. */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly tls?: { readonly port: number; readonly cert: string; readonly key: string };
  /** `undefined`: every client may do everything. */
  readonly policy?: AccessPolicy;
  /**
   * The bridge's persistent sessions, created before the broker listens, so
   * that messages published before their clients connect are kept for them.
   */
  readonly sessions?: readonly BridgeSession[];
  /** With a policy: meters' messages waiting for the bridge at most (see {@link AckAfterDelivery}). */
  readonly maxHeldAcks?: number;
  /** With a policy: longest a meter's message waits for the bridge, ms. */
  readonly maxAckWaitMs?: number;
  /**
   * `limits.max_payload_bytes`: a client whose packet is longer than this plus
   * {@link PACKET_OVERHEAD_BYTES} is disconnected; `undefined`: no limit.
   */
  readonly maxPayloadBytes?: number;
  readonly log: Logger;
}

/** The part of aedes's session store (aedes-persistence) used to create sessions. */
interface SessionStore {
  addSubscriptions(
    client: { id: string },
    subscriptions: ReadonlyArray<{ topic: string; qos: number }>,
  ): Promise<void>;
}

/** Room beside the payload for a packet's topic, packet id and properties. */
export const PACKET_OVERHEAD_BYTES = 1024;

const IDENTIFIER_REJECTED = 2;
const BAD_CREDENTIALS = 4;

/** Counts of refused operations, for the stats line. */
export interface RefusalCounts {
  connect: number;
  publish: number;
  subscribe: number;
  /** Connections closed for a packet over `limits.max_payload_bytes`. */
  oversized: number;
}

/** A running embedded broker. */
export class EmbeddedBroker {
  readonly refused: RefusalCounts = { connect: 0, publish: 0, subscribe: 0, oversized: 0 };
  readonly #principals = new WeakMap<Client, Principal>();
  /** The username each client logged in with, to name both sides of a client id takeover. */
  readonly #usernames = new WeakMap<Client, string | undefined>();
  readonly #servers: net.Server[] = [];
  readonly #logLimiter = new LogRateLimiter(10, 60_000);
  /** With a policy: holds meters' PUBACKs until the bridge has their messages. */
  readonly acks: AckAfterDelivery | undefined;

  private constructor(readonly aedes: Aedes, readonly options: EmbeddedBrokerOptions) {
    const policy = options.policy;
    if (policy === undefined) {
      aedes.authenticate = (client, username, _password, done) => {
        this.#admitted(client, username);
        done(null, true);
      };
      return;
    }
    const acks = new AckAfterDelivery(aedes, {
      isBridge: (client) => this.#principal(client).kind === "bridge",
      bridgeSessions: options.sessions?.map((session) => session.clientId),
      maxHeld: options.maxHeldAcks,
      maxWaitMs: options.maxAckWaitMs,
      log: options.log,
    });
    this.acks = acks;
    aedes.authenticate = (client, username, password, done) => {
      const principal = policy.authenticate(username, password?.toString("utf8"));
      const clientId = principal === undefined
        ? undefined
        : policy.mayUseClientId(principal, client.id);
      if (clientId !== undefined && !clientId.ok) {
        this.refused.connect++;
        this.#warnLimited("connect", "Refused connection of {user}: {reason}", {
          user: JSON.stringify(username ?? null),
          reason: clientId.reason,
        });
        const error = new Error(clientId.reason) as AuthenticateError;
        error.returnCode = IDENTIFIER_REJECTED;
        return done(error, false);
      }
      if (principal === undefined) {
        this.refused.connect++;
        this.#warnLimited(
          "connect",
          "Refused connection of client {client} (user {user}): bad credentials",
          { client: JSON.stringify(client.id), user: JSON.stringify(username ?? null) },
        );
        const error = new Error("bad username or password") as AuthenticateError;
        error.returnCode = BAD_CREDENTIALS;
        return done(error, false);
      }
      this.#principals.set(client, principal);
      this.#admitted(client, username);
      done(null, true);
    };
    aedes.authorizePublish = (client, packet, done) => {
      // Without a client (an orphaned will) nobody vouches for the message.
      if (client === null) return done(new Error("no publishing client"));
      const principal = this.#principal(client);
      const decision = policy.mayPublish(principal, packet.topic, packet.payload as Buffer);
      if (decision.ok) {
        return principal.kind === "meter" ? acks.admit(client, packet, done) : done(null);
      }
      this.refused.publish++;
      this.#warnLimited("publish", "Refused publish of client {client}: {reason}", {
        client: JSON.stringify(client.id),
        reason: decision.reason,
      });
      done(new Error(decision.reason));
    };
    // Also guards messages queued in a persistent session that another client takes over.
    aedes.authorizeForward = (client, packet) =>
      policy.mayReceive(this.#principal(client), packet.topic) ? packet : null;
    aedes.authorizeSubscribe = (client, subscription, done) => {
      const decision = policy.maySubscribe(this.#principal(client), subscription.topic);
      if (decision.ok) return done(null, subscription);
      this.refused.subscribe++;
      this.#warnLimited("subscribe", "Refused subscription of client {client}: {reason}", {
        client: JSON.stringify(client.id),
        reason: decision.reason,
      });
      // A null subscription makes aedes answer with the MQTT failure code 0x80.
      done(null, null);
    };
  }

  /**
   * Records an accepted login and names a takeover of its client id: aedes
   * closes the earlier connection with that id without a word, so two devices
   * sharing one id would disconnect each other unseen.
   */
  #admitted(client: Client, username: string | undefined): void {
    this.#usernames.set(client, username);
    const clients = (this.aedes as unknown as { clients: Record<string, Client | undefined> })
      .clients;
    const earlier = clients[client.id];
    if (earlier === undefined || earlier === client) return;
    this.#warnLimited(
      "takeover",
      "Client id {client} (user {user}) connected again from another connection; the earlier " +
        "one (user {earlier}) is closed — if this repeats, two devices with one client id " +
        "disconnect each other: give each its own client id",
      {
        client: JSON.stringify(client.id),
        user: JSON.stringify(username ?? null),
        earlier: JSON.stringify(this.#usernames.get(earlier) ?? null),
      },
    );
  }

  #warnLimited(key: string, message: string, properties: Record<string, unknown>): void {
    const suppressed = this.#logLimiter.admit(key, Date.now());
    if (suppressed === undefined) return;
    this.options.log.warn(
      suppressed > 0 ? `${message} ({suppressed} similar lines suppressed)` : message,
      { ...properties, suppressed },
    );
  }

  /** Accepts a connection: guards it, then hands it to aedes. */
  #accept(connection: net.Socket): void {
    const limit = this.options.maxPayloadBytes;
    guardConnection(connection, {
      maxRemainingLength: limit === undefined ? undefined : limit + PACKET_OVERHEAD_BYTES,
      // Called from a read, which aedes makes only after `handle` returned.
      onOversized: (packet) => this.#oversized(client, packet, limit!),
    });
    const client = this.aedes.handle(connection);
  }

  #oversized(client: Client, packet: OversizedPacket, limit: number): void {
    this.refused.oversized++;
    const principal = this.#principals.get(client);
    const user = principal?.kind === "bridge"
      ? this.options.policy?.bridge.username
      : principal?.username;
    this.#warnLimited(
      "oversized",
      "Closed the connection of client {client} (user {user}): its {type} packet of {bytes} " +
        "bytes exceeds limits.max_payload_bytes ({limit}) plus {overhead} bytes for topic and " +
        "headers; raise limits.max_payload_bytes if meters send larger messages",
      {
        client: JSON.stringify(client.id ?? null),
        user: JSON.stringify(user ?? null),
        type: packet.type,
        bytes: packet.bytes,
        limit,
        overhead: PACKET_OVERHEAD_BYTES,
      },
    );
  }

  #principal(client: Client): Principal {
    return this.#principals.get(client) ?? { kind: "meter", username: "" };
  }

  /** Creates the broker and opens its listeners. */
  static async start(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
    const aedes = await Aedes.createBroker({ connectTimeout: 10_000 });
    const broker = new EmbeddedBroker(aedes, options);
    const store = (aedes as unknown as { persistence: SessionStore }).persistence;
    for (const { clientId, filters } of options.sessions ?? []) {
      await store.addSubscriptions({ id: clientId }, filters.map((topic) => ({ topic, qos: 1 })));
    }
    aedes.on("clientError", (client, error) => {
      options.log.debug("Client {client}: {error}", {
        client: JSON.stringify(client.id),
        error: error.message,
      });
    });
    const accept = (connection: net.Socket) => broker.#accept(connection);
    await broker.#listen(net.createServer(accept), options.host, options.port);
    if (options.tls !== undefined) {
      const server = tls.createServer({ cert: options.tls.cert, key: options.tls.key }, accept);
      await broker.#listen(server, options.host, options.tls.port);
    }
    return broker;
  }

  #listen(server: net.Server, host: string, port: number): Promise<void> {
    this.#servers.push(server);
    return new Promise((resolve, reject) => {
      server.once("error", (error: Error & { code?: string }) => {
        if (error.code !== "EADDRINUSE") return reject(error);
        reject(
          new Error(
            `${host}:${port} is already in use (another MQTT broker?): stop it, choose another ` +
              `port for the embedded ${this.options.name} broker, or set embedded.enabled: false ` +
              "to use that broker instead",
          ),
        );
      });
      server.listen(port, host, () => {
        server.removeAllListeners("error");
        resolve();
      });
    });
  }

  /** Closes the listeners and disconnects every client. */
  async stop(): Promise<void> {
    // A server's close callback waits for its open connections, which only
    // aedes.close() ends: stop accepting first, then disconnect, then wait.
    const closed = this.#servers.map((server) =>
      new Promise<void>((resolve) => server.close(() => resolve()))
    );
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    await Promise.all(closed);
  }
}
