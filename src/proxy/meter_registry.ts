/**
 * What the proxy knows about each meter beyond its readings' history: when it
 * was last seen, whether it is online, its counters, clock drift, last
 * values, relay and I/O state, and what the config sender reports. No I/O:
 * the proxy feeds it and publishes what it returns.
 *
 * @module
 */
import type { MeterSettings } from "../config/meter_settings.ts";
import type { DropCode } from "../protocol/filter.ts";
import { type MeterId, modelOf } from "../protocol/meter_id.ts";
import type {
  Availability,
  MeterConfigSummary,
  MeterStatus,
  RelayState,
} from "../protocol/meter_status.ts";
import type { IoPayload } from "../protocol/topics.ts";

interface MeterRecord {
  readonly id: MeterId;
  /** Availability as last reported by this process; `undefined` until first reported. */
  availability: Availability | undefined;
  /** Epoch ms of the last valid reading; 0 = none since start. */
  lastSeen: number;
  /** Epoch ms after which the meter is offline without a new reading. */
  deadline: number;
  readings: number;
  rejected: number;
  zeroFiltered: number;
  duplicates: number;
  driftSeconds: number | null;
  /** Last published `seconds` and `minutes` payloads, parsed only when a status is built. */
  payloads: Record<string, string>;
  values: Record<string, number | null>;
  valuesStale: boolean;
  config: MeterConfigSummary | undefined;
  relay: RelayState | null;
  io: IoPayload | undefined;
  outbox: number;
  /** Whether something shown in its status changed since the last `takeChanged`. */
  changed: boolean;
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

/** Per-meter knowledge of the proxy, bounded by `limits.max_meters`. */
export class MeterRegistry {
  readonly #meters = new Map<MeterId, MeterRecord>();

  constructor(
    public maxMeters: number,
    /** The settings of a meter, for its availability timeout. */
    public settingsOf: (id: MeterId) => MeterSettings,
  ) {}

  /** Meters known. */
  get size(): number {
    return this.#meters.size;
  }

  /** Known meter ids. */
  ids(): IterableIterator<MeterId> {
    return this.#meters.keys();
  }

  #record(id: MeterId, now: number): MeterRecord | undefined {
    let record = this.#meters.get(id);
    if (record !== undefined) return record;
    if (this.#meters.size >= this.maxMeters) return undefined;
    record = {
      id,
      availability: undefined,
      lastSeen: 0,
      deadline: now + this.settingsOf(id).availabilityTimeoutSeconds * 1000,
      readings: 0,
      rejected: 0,
      zeroFiltered: 0,
      duplicates: 0,
      driftSeconds: null,
      payloads: {},
      values: {},
      valuesStale: false,
      config: undefined,
      relay: null,
      io: undefined,
      outbox: 0,
      changed: true,
    };
    this.#meters.set(id, record);
    return record;
  }

  /**
   * Registers a meter known from before (a retained announcement): offline
   * until it reports, and reported offline if it stays silent for its timeout.
   */
  remember(id: MeterId, now: number): void {
    this.#record(id, now);
  }

  /** Forgets a meter whose announcement was cleared. */
  forget(id: MeterId): void {
    this.#meters.delete(id);
  }

  /** A valid reading arrived; returns `online` if the meter just came online. */
  seen(id: MeterId, now: number): AvailabilityChange | undefined {
    const record = this.#record(id, now);
    if (record === undefined) return undefined;
    record.lastSeen = now;
    record.deadline = now + this.settingsOf(id).availabilityTimeoutSeconds * 1000;
    record.changed = true;
    if (record.availability === "online") return undefined;
    record.availability = "online";
    return { id, availability: "online" };
  }

  /** A reading was published with this payload and clock drift. */
  published(id: MeterId, level: string, payload: string, driftSeconds: number, now: number): void {
    const record = this.#record(id, now);
    if (record === undefined) return;
    record.readings++;
    // `day` repeats the minutes registers' names with midnight values: not the latest values.
    if (level !== "day") {
      record.payloads[level] = payload;
      record.valuesStale = true;
    }
    record.driftSeconds = driftSeconds;
    record.outbox++;
  }

  /** A publication of this meter reached the central broker. */
  delivered(id: MeterId): void {
    const record = this.#meters.get(id);
    if (record !== undefined && record.outbox > 0) record.outbox--;
  }

  /** The outbox is empty: no meter has readings waiting (drops are not traced per meter). */
  outboxEmpty(): void {
    for (const record of this.#meters.values()) record.outbox = 0;
  }

  /** A valid reading was not published. */
  dropped(id: MeterId, code: DropCode): void {
    const record = this.#meters.get(id);
    if (record === undefined) return;
    if (code === "duplicate") record.duplicates++;
    else if (code === "zero_burst") record.zeroFiltered++;
    else if (code === "energy_regression") record.rejected++;
    record.changed = true;
  }

  /** What the config sender reports. */
  configured(id: MeterId, summary: MeterConfigSummary): void {
    const record = this.#meters.get(id);
    if (record === undefined) return;
    record.config = summary;
    record.changed = true;
  }

  /** The relay state the meter reported. */
  relay(id: MeterId, state: RelayState, now: number): void {
    const record = this.#record(id, now);
    if (record === undefined) return;
    record.relay = state;
    record.changed = true;
  }

  /** Digital I/O reported; returns whether it is the first report since start. */
  io(id: MeterId, payload: IoPayload, now: number): boolean {
    const record = this.#record(id, now);
    if (record === undefined) return false;
    const first = record.io === undefined;
    record.io = payload;
    record.relay = payload.do1;
    record.changed = true;
    return first;
  }

  /** Whether the meter reported its digital I/O since start. */
  hasIo(id: MeterId): boolean {
    return this.#meters.get(id)?.io !== undefined;
  }

  /** Meters whose timeout passed without a reading go offline. */
  expire(now: number): AvailabilityChange[] {
    const changes: AvailabilityChange[] = [];
    for (const record of this.#meters.values()) {
      if (now < record.deadline || record.availability === "offline") continue;
      record.availability = "offline";
      record.changed = true;
      changes.push({ id: record.id, availability: "offline" });
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
      clock_drift_seconds: record.driftSeconds,
      outbox_depth: record.outbox,
      values: record.values,
      relay: record.relay,
      ...(record.config ?? UNCONFIGURED),
    };
  }

  /** Statuses of every meter, by id. */
  statuses(): MeterStatus[] {
    return [...this.#meters.keys()].sort().map((id) => this.status(id)!);
  }

  /** Ids whose status changed since the last call. */
  takeChanged(): MeterId[] {
    const ids: MeterId[] = [];
    for (const record of this.#meters.values()) {
      if (!record.changed) continue;
      record.changed = false;
      ids.push(record.id);
    }
    return ids;
  }
}
