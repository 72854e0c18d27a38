/**
 * The embedded meters' broker acknowledges a meter's QoS 1 message only once
 * the bridge has it.
 *
 * aedes answers a QoS 1 PUBLISH with PUBACK first and forwards the message
 * afterwards (`lib/handlers/publish.js`), from its memory: if the bridge
 * process dies before the proxy stored the message in its outbox, a reading
 * the meter was told is safe is gone, and the meter does not send it again.
 *
 * So while aedes asks whether a meter's QoS 1 message may be published
 * (`authorizePublish`, which it calls before it writes the PUBACK), this
 * module looks up the bridge's persistent sessions subscribed to the topic
 * with QoS 1 — the proxy's, also while the proxy is away — forwards the
 * message itself, and lets aedes answer only once each of those sessions
 * acknowledged its copy. The proxy acknowledges a reading only once it is in
 * its durable outbox. aedes's own publication of the message, which follows
 * its PUBACK, is emptied and moved to a `$SYS` topic that no session receives.
 *
 * While a meter's messages wait, aedes reads little more from its connection
 * (it reads on once the packets of its last read are handled), so a meter
 * that sends faster than the bridge stores is slowed down by TCP instead of
 * piling up messages here.
 *
 * - With no such session the meter is answered at once, as before: nobody
 *   would acknowledge (and a message nobody subscribes to is dropped by any
 *   broker).
 * - A retransmission (DUP) of a message still waiting is answered together
 *   with it instead of being forwarded again.
 * - A meter that disconnects leaves nothing behind: what it has waiting is
 *   forgotten unanswered (it sends it again); copies already forwarded still
 *   reach the bridge, which drops the repeats.
 * - A session that ends (its client id connects with a clean session, or as
 *   a client that is not the bridge) is no longer waited for: aedes drops
 *   what it queued for it without acknowledgements.
 * - Clean sessions, such as the config sender's subscription to command
 *   replies, are not waited for: aedes keeps nothing for them while they are
 *   away, and their acknowledgement does not mean the message is stored.
 * - At most `maxHeld` messages wait, each at most `maxWaitMs`. Beyond either,
 *   meters are answered without the bridge's acknowledgement (aedes's own
 *   order) and a warning says so, at most once a minute: memory stays bounded
 *   while the proxy is away for long, and a meter is never held up long enough
 *   to miss its keepalive (aedes reads nothing more from a connection whose
 *   messages wait, not even a PINGREQ) — a proxy restarting after a crash
 *   takes up to a minute of backoff.
 *
 * Only QoS 1 is handled: meters publish with QoS 0 or 1.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { Aedes, Client, PublishPacket, PubrelPacket } from "aedes";
import { Buffer } from "node:buffer";
import { LogRateLimiter } from "../logging/rate_limit.ts";

/**
 * Where aedes's own publication of a message already forwarded goes. A `$SYS`
 * topic: aedes delivers it to no subscription starting with a wildcard, and
 * only the bridge may subscribe to anything else outside the command topics.
 */
const INERT_TOPIC = "$SYS/kpm33b-bridge/forwarded";

/** Messages waiting for the bridge at most, by default. */
const DEFAULT_MAX_HELD = 10_000;

/**
 * Longest a message waits for the bridge, by default: beyond the proxy's start
 * (it holds readings up to 10 s for the meters' announcements), below the
 * keepalive of common meter firmware.
 */
const DEFAULT_MAX_WAIT_MS = 20_000;

const EMPTY = Buffer.alloc(0);

/** The callback `authorizePublish` answers aedes with. */
export type PublishAnswer = (error?: Error | null) => void;

/** Persistent sessions' subscriptions matching a topic, as aedes's session store lists them. */
type Subscriptions = ReadonlyArray<{ readonly clientId: string; readonly qos: number }>;

/** The part of aedes's session store (aedes-persistence) used here. */
interface SessionStore {
  subscriptionsByTopic(topic: string): Promise<Subscriptions>;
}

/** One copy of a meter's message and the answer aedes waits for. */
type PendingAnswer = { readonly packet: PublishPacket; readonly answer: PublishAnswer };

/** A meter's message whose PUBACK waits. */
interface Waiting {
  readonly publisher: Client;
  readonly messageId: number;
  /** The message and its retransmissions: all are answered together. */
  readonly answers: [PendingAnswer, ...PendingAnswer[]];
  /** The payload of the forwarded copy, by identity: aedes's acknowledgements carry it. */
  copy?: Buffer;
  /** When the copy was forwarded, epoch ms. */
  forwardedAt?: number;
  /** Bridge sessions that have not acknowledged the copy yet. */
  readonly sessions: Set<string>;
  settled: boolean;
}

/** Options of {@link AckAfterDelivery}. */
export interface AckAfterDeliveryOptions {
  /** Whether a connected client is one of the bridge's own. */
  readonly isBridge: (client: Client) => boolean;
  /** Ids of bridge sessions that exist before their clients connect (created at start). */
  readonly bridgeSessions?: Iterable<string>;
  /** Messages waiting at most (default 10,000). */
  readonly maxHeld?: number;
  /** Longest a message waits for the bridge, ms (default 20 s). */
  readonly maxWaitMs?: number;
  readonly log: Logger;
}

/** Holds meters' PUBACKs until the bridge's sessions acknowledged their messages. */
export class AckAfterDelivery {
  /**
   * Messages answered before the bridge acknowledged them, since start:
   * because `maxHeld` were waiting, or after `maxWaitMs`.
   */
  answeredEarly = 0;
  readonly #aedes: Aedes;
  readonly #options: AckAfterDeliveryOptions;
  readonly #maxHeld: number;
  readonly #maxWaitMs: number;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  /** Ids of the bridge's persistent sessions. */
  readonly #bridgeSessions: Set<string>;
  /** Forwarded messages by the payload of their copy. */
  readonly #forwarded = new Map<Buffer, Waiting>();
  /** Per meter connection, its waiting messages by message id. */
  readonly #byPublisher = new Map<Client, Map<number, Waiting>>();
  /** Per bridge session, the messages waiting for its acknowledgement. */
  readonly #bySession = new Map<string, Set<Waiting>>();
  readonly #logLimiter = new LogRateLimiter(1, 60_000);

  constructor(aedes: Aedes, options: AckAfterDeliveryOptions) {
    this.#aedes = aedes;
    this.#options = options;
    this.#maxHeld = options.maxHeld ?? DEFAULT_MAX_HELD;
    this.#maxWaitMs = options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
    this.#bridgeSessions = new Set(options.bridgeSessions);
    aedes.on("ack", (packet, client) => this.#onAck(packet, client));
    aedes.on("client", (client) => this.#onConnect(client));
    aedes.on("clientDisconnect", (client) => this.#forget(client));
    aedes.on("closed", () => this.#stopSweep());
  }

  /** Messages forwarded whose PUBACK waits for the bridge. */
  get held(): number {
    return this.#forwarded.size;
  }

  /**
   * Takes over `authorizePublish`'s answer for a meter's message the access
   * rules allow: `answer` is called once the bridge has the message (at once
   * for QoS 0, or when no session of the bridge subscribes to it).
   */
  admit(publisher: Client, packet: PublishPacket, answer: PublishAnswer): void {
    const messageId = packet.messageId;
    if (packet.qos !== 1 || messageId === undefined) return answer(null);
    // Closed meanwhile: there is nobody to answer, and the meter sends the message again.
    if (publisher.closed) return;
    const messages = this.#byPublisher.get(publisher) ?? new Map<number, Waiting>();
    const earlier = messages.get(messageId);
    if (packet.dup && earlier !== undefined) {
      earlier.answers.push({ packet, answer });
      return;
    }
    const waiting: Waiting = {
      publisher,
      messageId,
      answers: [{ packet, answer }],
      sessions: new Set(),
      settled: false,
    };
    messages.set(messageId, waiting);
    this.#byPublisher.set(publisher, messages);
    // Lookups complete in the order they were made, so messages are forwarded in arrival order.
    this.#store().subscriptionsByTopic(packet.topic).then(
      (subscriptions) => this.#forward(waiting, subscriptions),
      (error: Error) => this.#answer(waiting, error),
    );
  }

  #store(): SessionStore {
    return (this.#aedes as unknown as { persistence: SessionStore }).persistence;
  }

  #forward(waiting: Waiting, subscriptions: Subscriptions): void {
    if (waiting.settled) return;
    const sessions = subscriptions.filter((s) => s.qos > 0 && this.#bridgeSessions.has(s.clientId))
      .map((s) => s.clientId);
    if (sessions.length === 0) return this.#answer(waiting, null);
    if (this.#forwarded.size >= this.#maxHeld) {
      this.answeredEarly++;
      this.#warnEarly(
        "{held} meter messages wait for the bridge to store them, the most the meters' broker " +
          "holds: acknowledging further ones at once, so a crash of the bridge would lose them " +
          "({count} since start)",
      );
      return this.#answer(waiting, null);
    }
    const { packet } = waiting.answers[0];
    // A new Buffer object over the same bytes: aedes's copies keep the reference, so it
    // identifies this forwarding in the acknowledgements, and nothing else can share it.
    const copy = typeof packet.payload === "string"
      ? Buffer.from(packet.payload)
      : Buffer.from(packet.payload.buffer, packet.payload.byteOffset, packet.payload.byteLength);
    waiting.copy = copy;
    waiting.forwardedAt = Date.now();
    this.#forwarded.set(copy, waiting);
    this.#sweepTimer ??= setInterval(
      () => this.#sweep(),
      Math.min(1000, Math.max(10, this.#maxWaitMs / 4)),
    );
    for (const id of sessions) {
      waiting.sessions.add(id);
      const set = this.#bySession.get(id) ?? new Set<Waiting>();
      set.add(waiting);
      this.#bySession.set(id, set);
    }
    this.#aedes.publish(
      {
        cmd: "publish",
        topic: packet.topic,
        payload: copy,
        qos: 1,
        retain: packet.retain,
        dup: false,
      },
      (error) => {
        if (error) this.#answer(waiting, error);
      },
    );
  }

  #onAck(packet: PublishPacket | PubrelPacket | undefined, client: Client): void {
    // A clean session's acknowledgement comes without the packet; a PUBREL is QoS 2's.
    if (packet?.cmd !== "publish") return;
    const waiting = this.#forwarded.get(packet.payload as Buffer);
    if (waiting !== undefined) this.#acknowledged(waiting, client.id);
  }

  #acknowledged(waiting: Waiting, session: string): void {
    waiting.sessions.delete(session);
    const set = this.#bySession.get(session);
    set?.delete(waiting);
    if (set?.size === 0) this.#bySession.delete(session);
    if (waiting.sessions.size === 0) this.#answer(waiting, null);
  }

  #onConnect(client: Client): void {
    if (!client.clean && this.#options.isBridge(client)) {
      this.#bridgeSessions.add(client.id);
      return;
    }
    if (!this.#bridgeSessions.delete(client.id)) return;
    // The session ended: aedes drops its queue without acknowledgements.
    for (const waiting of [...this.#bySession.get(client.id) ?? []]) {
      this.#acknowledged(waiting, client.id);
    }
  }

  #forget(publisher: Client): void {
    for (const waiting of [...this.#byPublisher.get(publisher)?.values() ?? []]) {
      this.#remove(waiting);
    }
  }

  /** Answers a message's publish and retransmissions: an error refuses them. */
  #answer(waiting: Waiting, error: Error | null): void {
    if (!this.#remove(waiting)) return;
    for (const { packet, answer } of waiting.answers) {
      if (error === null && waiting.copy !== undefined) {
        packet.topic = INERT_TOPIC;
        packet.payload = EMPTY;
        packet.retain = false;
      }
      answer(error);
    }
  }

  /** Forgets a message; false if it was settled before. */
  #remove(waiting: Waiting): boolean {
    if (waiting.settled) return false;
    waiting.settled = true;
    const messages = this.#byPublisher.get(waiting.publisher);
    if (messages?.get(waiting.messageId) === waiting) messages.delete(waiting.messageId);
    if (messages?.size === 0) this.#byPublisher.delete(waiting.publisher);
    if (waiting.copy !== undefined) this.#forwarded.delete(waiting.copy);
    for (const session of waiting.sessions) {
      const set = this.#bySession.get(session);
      set?.delete(waiting);
      if (set?.size === 0) this.#bySession.delete(session);
    }
    return true;
  }

  /** Answers the messages that waited `maxWaitMs` for the bridge (oldest first in the map). */
  #sweep(): void {
    const before = Date.now() - this.#maxWaitMs;
    let late = 0;
    for (const waiting of this.#forwarded.values()) {
      if (waiting.forwardedAt! > before) break;
      late++;
      this.#answer(waiting, null);
    }
    if (late > 0) {
      this.answeredEarly += late;
      this.#warnEarly(
        `{late} meter messages were not stored by the bridge within ${this.#maxWaitMs / 1000} s ` +
          "(is the proxy worker restarting?): acknowledging them to the meters, so a crash of " +
          "the bridge now would lose them ({count} since start)",
        late,
      );
    }
    if (this.#forwarded.size === 0) this.#stopSweep();
  }

  #stopSweep(): void {
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
  }

  #warnEarly(message: string, late = 0): void {
    const suppressed = this.#logLimiter.admit("early", Date.now());
    if (suppressed === undefined) return;
    this.#options.log.warn(message, {
      held: this.#forwarded.size,
      late,
      count: this.answeredEarly,
    });
  }
}
