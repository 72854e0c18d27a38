/**
 * What the proxy knows about each meter beyond its readings' history: when it
 * was last seen, whether it is online, its counters, clock drift, last
 * values, relay and I/O state, and what the config sender reports. No I/O:
 * the proxy feeds it and publishes what it returns.
 *
 * Built for hundreds of thousands of meters: every update costs O(1)
 * (availability deadlines in a {@link DeadlineQueue}, changed statuses in a
 * set, counts kept as they change), at most `maxMeters` are held (the least
 * recently active is forgotten), and lists are bounded by their callers.
 *
 * @module
 */
import type { MeterSettings } from "../config/meter_settings.ts";
import type { DropCode, RegisterReset } from "../protocol/filter.ts";
import { type MeterId, modelOf } from "../protocol/meter_id.ts";
import type {
  Availability,
  MeterConfigSummary,
  MeterStatus,
  RelayState,
} from "../protocol/meter_status.ts";
import type { IoPayload } from "../protocol/topics.ts";
import { DeadlineQueue } from "../runtime/deadline_queue.ts";

interface MeterRecord {
  readonly id: MeterId;
  /** Availability as last reported by this process; `undefined` until first reported. */
  availability: Availability | undefined;
  /** Epoch ms of the last valid reading; 0 = none since start. */
  lastSeen: number;
  readings: number;
  rejected: number;
  zeroFiltered: number;
  duplicates: number;
  implausible: number;
  lastImplausible: string | null;
  resets: number;
  lastReset: MeterStatus["last_register_reset"];
  driftSeconds: number | null;
  /** Last published `seconds` and `minutes` payloads, parsed only when a status is built. */
  payloads: Record<string, string>;
  values: Record<string, number | null>;
  valuesStale: boolean;
  config: MeterConfigSummary | undefined;
  relay: RelayState | null;
  io: IoPayload | undefined;
  outbox: number;
}

const UNCONFIGURED: MeterConfigSummary = {
  configuration: "pending",
  intervals: { seconds: null, minutes: null },
  clock_set_at: null,
  last_ack_latency_ms: null,
  last_error: null,
};

/** An availability change to publish. */
export interface AvailabilityChange {
  readonly id: MeterId;
  readonly availability: Availability;
}

/** Per-meter knowledge of the proxy, bounded by `maxMeters`. */
export class MeterRegistry {
  /** Records in least recently active first order. */
  readonly #meters = new Map<MeterId, MeterRecord>();
  /** When each meter goes offline without a reading. */
  readonly #deadlines = new DeadlineQueue<MeterId>();
  /** Meters whose status changed since the last `takeChanged`, in order of change. */
  readonly #changed = new Set<MeterId>();
  #online = 0;
  /** Meters with publications counted in `outbox`, so an empty outbox resets only those. */
  readonly #inOutbox = new Set<MeterId>();
  /** The first ids in order, kept until a meter is added or forgotten. */
  #sorted: MeterId[] | undefined;

  constructor(
    public maxMeters: number,
    /** The settings of a meter, for its availability timeout. */
    public settingsOf: (id: MeterId) => MeterSettings,
  ) {}

  /** Meters known. */
  get size(): number {
    return this.#meters.size;
  }

  /** Meters online now. */
  get online(): number {
    return this.#online;
  }

  /** Known meter ids. */
  ids(): IterableIterator<MeterId> {
    return this.#meters.keys();
  }

  /** Whether the meter is known. */
  has(id: MeterId): boolean {
    return this.#meters.has(id);
  }

  #record(id: MeterId, now: number): MeterRecord {
    let record = this.#meters.get(id);
    if (record !== undefined) return record;
    if (this.#meters.size >= this.maxMeters) {
      const oldest = this.#meters.keys().next().value;
      if (oldest !== undefined) this.forget(oldest);
    }
    record = {
      id,
      availability: undefined,
      lastSeen: 0,
      readings: 0,
      rejected: 0,
      zeroFiltered: 0,
      duplicates: 0,
      implausible: 0,
      lastImplausible: null,
      resets: 0,
      lastReset: null,
      driftSeconds: null,
      payloads: {},
      values: {},
      valuesStale: false,
      config: undefined,
      relay: null,
      io: undefined,
      outbox: 0,
    };
    this.#meters.set(id, record);
    this.#deadlines.set(id, now, this.#timeoutMs(id));
    this.#changed.add(id);
    this.#sorted = undefined;
    return record;
  }

  #timeoutMs(id: MeterId): number {
    return this.settingsOf(id).availabilityTimeoutSeconds * 1000;
  }

  /** Moves a meter to the most recently active end. */
  #touch(record: MeterRecord): void {
    this.#meters.delete(record.id);
    this.#meters.set(record.id, record);
  }

  /**
   * Registers a meter known from before (a retained announcement): offline
   * until it reports, and reported offline if it stays silent for its timeout.
   */
  remember(id: MeterId, now: number): void {
    this.#record(id, now);
  }

  /** Forgets a meter (its announcement was cleared, or it is handled elsewhere). */
  forget(id: MeterId): void {
    const record = this.#meters.get(id);
    if (record === undefined) return;
    if (record.availability === "online") this.#online--;
    this.#meters.delete(id);
    this.#deadlines.delete(id);
    this.#changed.delete(id);
    this.#inOutbox.delete(id);
    this.#sorted = undefined;
  }

  /** A valid reading arrived; returns `online` if the meter just came online. */
  seen(id: MeterId, now: number): AvailabilityChange | undefined {
    const record = this.#record(id, now);
    this.#touch(record);
    record.lastSeen = now;
    this.#deadlines.set(id, now, this.#timeoutMs(id));
    this.#changed.add(id);
    if (record.availability === "online") return undefined;
    record.availability = "online";
    this.#online++;
    return { id, availability: "online" };
  }

  /** A reading was published with this payload and clock drift. */
  published(id: MeterId, level: string, payload: string, driftSeconds: number, now: number): void {
    const record = this.#record(id, now);
    record.readings++;
    // `day` repeats the minutes registers' names with midnight values: not the latest values.
    if (level !== "day") {
      record.payloads[level] = payload;
      record.valuesStale = true;
    }
    record.driftSeconds = driftSeconds;
    record.outbox++;
    this.#inOutbox.add(id);
  }

  /** A publication of this meter reached the central broker. */
  delivered(id: MeterId): void {
    const record = this.#meters.get(id);
    if (record === undefined || record.outbox === 0) return;
    record.outbox--;
    if (record.outbox === 0) this.#inOutbox.delete(id);
  }

  /** The outbox is empty: no meter has readings waiting (drops are not traced per meter). */
  outboxEmpty(): void {
    for (const id of this.#inOutbox) {
      const record = this.#meters.get(id);
      if (record !== undefined) record.outbox = 0;
    }
    this.#inOutbox.clear();
  }

  /** A valid reading was not published. */
  dropped(id: MeterId, code: DropCode): void {
    const record = this.#meters.get(id);
    if (record === undefined) return;
    if (code === "duplicate") record.duplicates++;
    else if (code === "zero_burst") record.zeroFiltered++;
    else if (code === "energy_regression") record.rejected++;
    this.#changed.add(id);
  }

  /** A reading was rejected as implausible. */
  implausible(id: MeterId, reason: string): void {
    const record = this.#meters.get(id);
    if (record === undefined) return;
    record.implausible++;
    record.lastImplausible = reason;
    this.#changed.add(id);
  }

  /** A register reset was accepted. */
  reset(id: MeterId, level: string, reset: RegisterReset, now: number): void {
    const record = this.#meters.get(id);
    if (record === undefined) return;
    record.resets++;
    record.lastReset = { at: new Date(now).toISOString(), level, ...reset };
    this.#changed.add(id);
  }

  /** What the config sender reports. */
  configured(id: MeterId, summary: MeterConfigSummary): void {
    const record = this.#meters.get(id);
    if (record === undefined) return;
    record.config = summary;
    this.#changed.add(id);
  }

  /** The relay state the meter reported. */
  relay(id: MeterId, state: RelayState, now: number): void {
    const record = this.#record(id, now);
    record.relay = state;
    this.#changed.add(id);
  }

  /** Digital I/O reported; returns whether it is the first report since start. */
  io(id: MeterId, payload: IoPayload, now: number): boolean {
    const record = this.#record(id, now);
    const first = record.io === undefined;
    record.io = payload;
    record.relay = payload.do1;
    this.#changed.add(id);
    return first;
  }

  /** Whether the meter reported its digital I/O since start. */
  hasIo(id: MeterId): boolean {
    return this.#meters.get(id)?.io !== undefined;
  }

  /** Meters whose timeout passed without a reading go offline. */
  expire(now: number): AvailabilityChange[] {
    const changes: AvailabilityChange[] = [];
    for (const id of this.#deadlines.expire(now)) {
      const record = this.#meters.get(id);
      if (record === undefined || record.availability === "offline") continue;
      if (record.availability === "online") this.#online--;
      record.availability = "offline";
      this.#changed.add(id);
      changes.push({ id, availability: "offline" });
    }
    return changes;
  }

  /** Current availability of every known meter. */
  availabilities(): AvailabilityChange[] {
    return [...this.#meters.values()].flatMap((r) =>
      r.availability === undefined ? [] : [{ id: r.id, availability: r.availability }]
    );
  }

  /** The status of one meter. */
  status(id: MeterId): MeterStatus | undefined {
    const record = this.#meters.get(id);
    if (record === undefined) return undefined;
    if (record.valuesStale) {
      record.values = {};
      for (const payload of Object.values(record.payloads)) {
        for (const [key, value] of Object.entries(JSON.parse(payload))) {
          if (typeof value === "number" || value === null) record.values[key] = value;
        }
      }
      record.valuesStale = false;
    }
    const settings = this.settingsOf(id);
    return {
      id,
      name: settings.name ?? `KPM33B ${id}`,
      model: modelOf(id),
      availability: record.availability ?? "offline",
      last_seen: record.lastSeen === 0 ? null : new Date(record.lastSeen).toISOString(),
      readings: record.readings,
      rejected: record.rejected,
      zero_filtered: record.zeroFiltered,
      duplicates: record.duplicates,
      implausible: record.implausible,
      last_implausible: record.lastImplausible,
      register_resets: record.resets,
      last_register_reset: record.lastReset,
      clock_drift_seconds: record.driftSeconds,
      outbox_depth: record.outbox,
      values: record.values,
      relay: record.relay,
      ...(record.config ?? UNCONFIGURED),
    };
  }

  /**
   * Statuses of the first `max` meters by id. The order is kept between calls
   * until a meter is added or forgotten, so a steady fleet is not re-sorted.
   */
  statuses(max: number): MeterStatus[] {
    this.#sorted ??= [...this.#meters.keys()].sort();
    return this.#sorted.slice(0, max).map((id) => this.status(id)!);
  }

  /** Ids whose status changed since the last call, in order of change. */
  takeChanged(): MeterId[] {
    const ids = [...this.#changed];
    this.#changed.clear();
    return ids;
  }
}
