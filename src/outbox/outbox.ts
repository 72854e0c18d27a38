/**
 * The outbox: every publication for the central broker passes through it, in
 * arrival order, and leaves it only once the central broker acknowledged it.
 *
 * Guarantees, with a durable store:
 * - at least once: a publication is reported accepted (and its reading is
 *   acknowledged to the internal broker) only after it is stored;
 * - order per topic, even across crashes: a topic has at most one
 *   publication in flight, and the next one is sent only after the removal of
 *   the previous one is stored. After a crash the only publication that can
 *   reach central twice is therefore the latest one of its topic — a repeat,
 *   never an older value after a newer one;
 * - bounded: beyond `maxEntries`, `maxBytes` or `maxAgeMs` the oldest entries
 *   are dropped and counted; at most {@link WINDOW} entries are held in memory,
 *   the rest stays in the store;
 * - paced after an outage ({@link DrainPace}): what the outbox holds when
 *   central connects (the backlog) leaves at `drainRatePerSecond`, and
 *   readings accepted meanwhile at the pace they arrive. Readings that queued
 *   behind the backlog count as backlog, so they are not released at once
 *   when it is through.
 *
 * Writes are batched: everything accepted or acknowledged while the event loop
 * is busy becomes one store transaction (`setImmediate`), so the cost of a
 * commit is shared by many readings. With a durable store, the removal of a
 * delivered entry whose topic holds nothing more is not written at once: it
 * rides with the next batch, or is written after {@link REMOVAL_WRITE_MS}.
 * When readings come more often than that, it halves the commits per
 * reading; the topic's next entry waits for it, so order holds, and after a
 * crash such an entry is sent once more — a repeat of the topic's latest value.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { DrainPace } from "./drain_pace.ts";
import {
  entryBytes,
  type OutboxEntry,
  type OutboxSize,
  type OutboxStore,
  type Publication,
} from "./outbox_store.ts";

export { DRAIN_BURST_SECONDS } from "./drain_pace.ts";

/** Most entries held in memory for delivery; the rest is read from the store as needed. */
export const WINDOW = 2000;

/**
 * Longest wait before the removal of a delivered entry is written when no
 * batch takes it along (see the module's description).
 */
export const REMOVAL_WRITE_MS = 1000;

/** Pause before a publish that failed while connected is tried again. */
const RETRY_MS = 1000;

/** Bounds and pace of the outbox. */
export interface OutboxOptions {
  /** Where entries are kept; a durable store lets a reading be acknowledged once stored. */
  readonly store: OutboxStore;
  /** Most entries held; beyond it the oldest are dropped. */
  readonly maxEntries: number;
  /** Most payload bytes held; beyond it the oldest are dropped. */
  readonly maxBytes: number;
  /** Entries older than this are dropped by {@link Outbox.expire}. */
  readonly maxAgeMs: number;
  /** Most meter states kept; {@link Outbox.expire} forgets the least recently written. */
  readonly maxMeterStates: number;
  /**
   * Publications per second of what the outbox holds when central connects,
   * on top of those accepted meanwhile; 0 is unlimited.
   */
  readonly drainRatePerSecond: number;
  /** Sends one publication to central; `done` is called on its acknowledgement or failure. */
  readonly publish: (entry: OutboxEntry, done: (error?: Error) => void) => void;
  /** Called when entries are dropped to stay within the bounds. */
  readonly onDropped?: (count: number, cause: "full" | "expired") => void;
  /**
   * The state to store with a meter's publications (see {@link Outbox.accept});
   * read when the batch is written, once per meter however many readings it has.
   * Undefined (the meter has no state any more) deletes the stored one.
   */
  readonly meterState?: (id: string) => string | undefined;
  /** Called for each publication central acknowledged. */
  readonly onDelivered?: (entry: OutboxEntry) => void;
  /** The clock, epoch ms (tests set it). */
  readonly now?: () => number;
}

/** What the outbox holds and has done; published as the bridge's outbox status. */
export interface OutboxStatus extends OutboxSize {
  /** Entries dropped since start because a bound was reached. */
  readonly dropped: number;
  /** Acceptance time of the oldest entry not yet delivered, epoch ms. */
  readonly oldest: number | undefined;
}

interface Acceptance {
  remaining: number;
  readonly onAccepted: () => void;
}

/** Delivers publications to central in order, durably and within bounds. */
export class Outbox {
  readonly #options: OutboxOptions;
  readonly #now: () => number;
  // Accepted or acknowledged since the last write: the next batch.
  #append: Publication[] = [];
  #appendAcceptances: Acceptance[] = [];
  #acceptances: Acceptance[] = [];
  #meters = new Set<string>();
  #removals: number[] = [];
  #flushScheduled = false;
  #removalTimer: ReturnType<typeof setTimeout> | undefined;
  // Entries in memory, in sequence order, and the same entries per topic.
  readonly #window = new Map<number, OutboxEntry>();
  readonly #topics = new Map<string, [OutboxEntry, ...OutboxEntry[]]>();
  /** Topics whose head is in flight or whose removal is not yet written. */
  readonly #busy = new Set<string>();
  /** Topics whose head may be sent now. */
  readonly #ready = new Set<string>();
  readonly #inFlight = new Set<number>();
  /** For a store that is not durable: whose reading an entry belongs to. */
  readonly #owners = new Map<number, Acceptance>();
  /** Highest sequence number moved into the window (or dropped before it got there). */
  #loadedUpTo = 0;
  /** Whether the store holds entries beyond `#loadedUpTo`. */
  #more: boolean;
  #connectedAt: number | undefined;
  #generation = 0;
  readonly #drain: DrainPace;
  #pumpTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #retryTimers = new Set<ReturnType<typeof setTimeout>>();
  /**
   * Memory store only: acknowledgements of readings without publications
   * (dropped, rejected), released once every entry accepted before them has
   * left — a redelivered duplicate must not be acknowledged while its first
   * copy exists only in this process.
   */
  readonly #barriers: { readonly afterSeq: number; readonly onAccepted: () => void }[] = [];
  /** Highest sequence number written. */
  #lastSeq = 0;
  #dropped = 0;
  #closed = false;

  constructor(options: OutboxOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#drain = new DrainPace(options.drainRatePerSecond, this.#now);
    this.#more = options.store.size().entries > 0;
    options.store.pruneMeterStates(options.maxMeterStates);
    this.#refill();
  }

  /** Whether a crash keeps what was accepted. */
  get durable(): boolean {
    return this.#options.store.durable;
  }

  /**
   * Accepts the publications of one reading of the meters `meterIds`, whose
   * state is stored with them. `onAccepted` is called once they are stored
   * durably, or — with a store that is not durable — once central has
   * acknowledged all of them (or they were dropped).
   */
  accept(
    publications: readonly Publication[],
    meterIds: Iterable<string>,
    onAccepted: () => void,
  ): void {
    if (this.#closed) return;
    if (this.durable && publications.length === 0) {
      // Nothing to store, and nothing earlier exists only in memory.
      onAccepted();
      return;
    }
    const acceptance = { remaining: publications.length, onAccepted };
    for (const publication of publications) {
      this.#append.push(publication);
      if (!this.durable) this.#appendAcceptances.push(acceptance);
    }
    for (const id of meterIds) this.#meters.add(id);
    if (this.durable || publications.length === 0) this.#acceptances.push(acceptance);
    this.#scheduleFlush();
  }

  /** Writes the meter's state anew with the next batch, or deletes it if it has none now. */
  rewriteMeterState(id: string): void {
    if (this.#closed) return;
    this.#meters.add(id);
    this.#scheduleFlush();
  }

  /** Central connected (`true`) or lost (`false`). */
  setConnected(connected: boolean): void {
    if (connected) {
      this.#connectedAt = this.#now();
      // Entries whose removal is not written yet were delivered.
      this.#drain.start(
        this.#connectedAt,
        () => this.#options.store.size().entries - this.#removals.length,
      );
      this.#pump();
      return;
    }
    this.#connectedAt = undefined;
    this.#drain.stop();
    // Whatever was in flight is sent again on the next connection.
    this.#generation++;
    for (const seq of this.#inFlight) {
      const entry = this.#window.get(seq);
      if (entry === undefined) continue;
      this.#busy.delete(entry.topic);
      this.#ready.add(entry.topic);
    }
    this.#inFlight.clear();
    clearTimeout(this.#pumpTimer);
    this.#pumpTimer = undefined;
  }

  /** Size, drops and age of the backlog: what is not delivered yet. */
  status(): OutboxStatus {
    const size = this.#options.store.size();
    // Delivered entries whose removal is not written yet stay in the window until it is.
    const delivered = new Set(this.#removals);
    let deliveredBytes = 0;
    for (const seq of delivered) {
      const entry = this.#window.get(seq);
      if (entry !== undefined) deliveredBytes += entryBytes(entry);
    }
    let oldest: OutboxEntry | undefined;
    for (const entry of this.#window.values()) {
      if (delivered.has(entry.seq)) continue;
      oldest = entry;
      break;
    }
    return {
      entries: size.entries - delivered.size,
      bytes: size.bytes - deliveredBytes,
      dropped: this.#dropped,
      oldest: oldest?.enqueuedAt,
    };
  }

  /** Publications sent to central and not yet acknowledged. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * Publications of the backlog still to be sent at `drainRatePerSecond`
   * (0 when there is none, or the rate is unlimited).
   */
  get backlog(): number {
    return this.#drain.backlog;
  }

  /**
   * Drops entries older than `maxAgeMs` and meter states beyond
   * `maxMeterStates`; called periodically.
   */
  expire(): void {
    this.#trim("expired");
    this.#options.store.pruneMeterStates(this.#options.maxMeterStates);
  }

  /** Writes everything pending now. */
  flush(): void {
    this.#flushScheduled = false;
    clearTimeout(this.#removalTimer);
    this.#removalTimer = undefined;
    if (this.#closed) return;
    const append = this.#append;
    const appendAcceptances = this.#appendAcceptances;
    const acceptances = this.#acceptances;
    const removals = this.#removals;
    const meters = this.#meters;
    if (
      append.length === 0 && removals.length === 0 && acceptances.length === 0 && meters.size === 0
    ) return;
    this.#append = [];
    this.#appendAcceptances = [];
    this.#acceptances = [];
    this.#removals = [];
    this.#meters = new Set();
    const meterStates = new Map<string, string | undefined>();
    if (this.#options.meterState !== undefined) {
      for (const id of meters) meterStates.set(id, this.#options.meterState(id));
    }
    const appended = append.length > 0 || removals.length > 0 || meterStates.size > 0
      ? this.#options.store.write({ append, remove: removals, meterStates, now: this.#now() })
      : [];
    for (const seq of removals) this.#removed(seq);
    // Readings arriving during a drain pass at their own pace, on top of the drain rate.
    this.#drain.accepted(appended.length);
    appended.forEach((entry, i) => {
      this.#lastSeq = entry.seq;
      const owner = appendAcceptances[i];
      if (!this.durable && owner !== undefined) this.#owners.set(entry.seq, owner);
      if (this.#more || this.#window.size >= WINDOW) {
        this.#more = true;
      } else {
        this.#load(entry);
      }
    });
    this.#drain.clip(this.#options.store.size().entries);
    const size = this.#options.store.size();
    if (size.entries > this.#options.maxEntries || size.bytes > this.#options.maxBytes) {
      this.#trim("full");
    }
    for (const acceptance of acceptances) {
      if (this.durable) acceptance.onAccepted();
      else this.#barriers.push({ afterSeq: this.#lastSeq, onAccepted: acceptance.onAccepted });
    }
    this.#releaseBarriers();
    this.#pump();
  }

  #releaseBarriers(): void {
    const oldest = this.#window.keys().next().value ??
      (this.#more ? this.#loadedUpTo + 1 : Infinity);
    while (this.#barriers[0] !== undefined && this.#barriers[0].afterSeq < oldest) {
      this.#barriers.shift()!.onAccepted();
    }
  }

  /**
   * Writes what is pending and releases the store. Nothing more is sent;
   * acknowledgements arriving later are ignored (those entries are sent again
   * after the next start).
   */
  close(): void {
    if (this.#closed) return;
    this.setConnected(false);
    this.flush();
    this.#closed = true;
    clearTimeout(this.#pumpTimer);
    clearTimeout(this.#removalTimer);
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#options.store.close();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /**
   * Writes the removal of a delivered entry now when something waits for it:
   * the topic's next entry, or — with a store that is not durable — the
   * acknowledgement of its reading. Otherwise it rides with the next batch.
   */
  #scheduleRemoval(topic: string): void {
    const waiting = !this.durable || this.#more || (this.#topics.get(topic)?.length ?? 0) > 1;
    if (waiting) {
      this.#scheduleFlush();
      return;
    }
    this.#removalTimer ??= setTimeout(() => {
      this.#removalTimer = undefined;
      this.flush();
    }, REMOVAL_WRITE_MS);
  }

  #load(entry: OutboxEntry): void {
    this.#window.set(entry.seq, entry);
    this.#loadedUpTo = entry.seq;
    const queue = this.#topics.get(entry.topic);
    if (queue === undefined) {
      this.#topics.set(entry.topic, [entry]);
      this.#ready.add(entry.topic);
    } else {
      queue.push(entry);
    }
  }

  /** Moves entries from the store into the window while there is room. */
  #refill(): void {
    if (!this.#more || this.#window.size > WINDOW / 2) return;
    const room = WINDOW - this.#window.size;
    const entries = this.#options.store.read(this.#loadedUpTo, room);
    for (const entry of entries) this.#load(entry);
    if (entries.length < room) this.#more = false;
  }

  /** Forgets an entry that left the store (delivered or dropped). */
  #removed(seq: number): void {
    const owner = this.#owners.get(seq);
    if (owner !== undefined) {
      this.#owners.delete(seq);
      if (--owner.remaining === 0) owner.onAccepted();
    }
    const entry = this.#window.get(seq);
    if (entry === undefined) return;
    this.#window.delete(seq);
    this.#inFlight.delete(seq);
    const queue = this.#topics.get(entry.topic)!;
    const index = queue.indexOf(entry);
    queue.splice(index, 1);
    if (index !== 0) return;
    this.#busy.delete(entry.topic);
    if (queue.length === 0) {
      this.#topics.delete(entry.topic);
      this.#ready.delete(entry.topic);
    } else {
      this.#ready.add(entry.topic);
    }
  }

  #trim(cause: "full" | "expired"): void {
    // Entries central has but whose removal is not written yet were delivered, not dropped.
    const keep = new Set([...this.#inFlight, ...this.#removals]);
    const dropped = this.#options.store.trim({
      maxEntries: this.#options.maxEntries,
      maxBytes: this.#options.maxBytes,
      notBefore: this.#now() - this.#options.maxAgeMs,
    }, keep);
    if (dropped.length === 0) return;
    for (const seq of dropped) {
      this.#removed(seq);
      if (seq > this.#loadedUpTo) this.#loadedUpTo = seq;
    }
    this.#dropped += dropped.length;
    this.#drain.clip(this.#options.store.size().entries);
    this.#options.onDropped?.(dropped.length, cause);
    this.#refill();
    this.#releaseBarriers();
    this.#pump();
  }

  #pump(): void {
    if (this.#closed || this.#connectedAt === undefined) return;
    this.#refill();
    if (this.#drain.backlog > 0) {
      // First the readings accepted since central came up whose topic holds nothing older:
      // each brought its credit, so they are not held back by the backlog of other topics.
      for (const topic of this.#ready) {
        const entry = this.#topics.get(topic)![0];
        if (entry.enqueuedAt < this.#connectedAt) continue;
        if (!this.#pace()) return;
        this.#send(topic, entry);
      }
      for (const topic of this.#ready) {
        if (this.#drain.backlog === 0) break;
        if (!this.#pace()) return;
        this.#send(topic, this.#topics.get(topic)![0]);
      }
      if (this.#drain.backlog > 0) return;
    }
    for (const topic of this.#ready) this.#send(topic, this.#topics.get(topic)![0]);
  }

  /**
   * During a drain, whether one more publication may be sent now: on a credit
   * (a reading accepted meanwhile) or a token of the drain rate. Schedules the
   * next pump when neither is left.
   */
  #pace(): boolean {
    if (this.#drain.take()) return true;
    this.#pumpTimer ??= setTimeout(() => {
      this.#pumpTimer = undefined;
      this.#pump();
    }, this.#drain.waitMs);
    return false;
  }

  #send(topic: string, entry: OutboxEntry): void {
    const generation = this.#generation;
    this.#ready.delete(topic);
    this.#busy.add(topic);
    this.#inFlight.add(entry.seq);
    this.#options.publish(entry, (error) => {
      if (generation !== this.#generation || !this.#inFlight.has(entry.seq)) return;
      this.#inFlight.delete(entry.seq);
      if (error !== undefined) {
        this.#busy.delete(topic);
        this.#retryLater(topic);
        return;
      }
      this.#options.onDelivered?.(entry);
      this.#removals.push(entry.seq);
      this.#scheduleRemoval(topic);
    });
  }

  /** A publish central refused while connected is tried again after a pause, not in a loop. */
  #retryLater(topic: string): void {
    if (this.#closed) return;
    const timer = setTimeout(() => {
      this.#retryTimers.delete(timer);
      if (this.#busy.has(topic) || !this.#topics.has(topic)) return;
      this.#ready.add(topic);
      this.#pump();
    }, RETRY_MS);
    this.#retryTimers.add(timer);
  }
}
