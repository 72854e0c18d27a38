/**
 * The data flow of one raw message, without I/O: decode, validate,
 * reassemble, filter, transform. The proxy worker feeds it messages from the
 * internal broker and carries out the events it returns.
 *
 * @module
 */
import type { LimitsConfig, MetersConfig } from "../config/schema.ts";
import { meterSettings } from "../config/meter_settings.ts";
import {
  type AdmissionOptions,
  type AdmissionVerdict,
  MeterAdmission,
} from "../protocol/admission.ts";
import { decodeReading } from "../protocol/decode.ts";
import {
  type Arrival,
  type DropCode,
  type FilterOptions,
  ReadingFilter,
  type RegisterReset,
} from "../protocol/filter.ts";
import type { ImplausibleCode } from "../protocol/plausibility.ts";
import type { MeterClock } from "../protocol/meter_time.ts";
import { type MeterId, modelOf } from "../protocol/meter_id.ts";
import type { Reading } from "../protocol/reading.ts";
import { type ExpiredReading, Reassembler } from "../protocol/reassembly.ts";
import type { RejectionCode } from "../protocol/rejection.ts";
import { type CentralMessage, centralMessage } from "../protocol/central_message.ts";
import type { MeterAnnouncement } from "../protocol/topics.ts";
import { encodeReadingPayload, type PayloadFields, payloadFields } from "../protocol/transform.ts";
import type { ReadingLevel } from "../protocol/uplink.ts";

/** Settings of the pipeline. */
export interface PipelineOptions {
  readonly root: string;
  readonly retainReadings: boolean;
  readonly meters: MetersConfig;
  readonly limits: LimitsConfig;
  readonly clock: MeterClock;
  /**
   * With replicas: this replica's name. A meter whose announcement names
   * another replica is claimed (announced again with this name) when its
   * reading arrives here: the broker moved it.
   */
  readonly replica?: string;
}

/** A drifting meter is reported at most this often. */
const DRIFT_REPORT_INTERVAL_MS = 60_000;

/** What the pipeline asks the proxy to do or to record. */
export type PipelineEvent =
  | {
    readonly type: "publish";
    readonly id: MeterId;
    readonly level: ReadingLevel;
    readonly topic: string;
    readonly payload: string;
    readonly retain: boolean;
    /** Meter clock minus gateway clock at this reading, in seconds. */
    readonly driftSeconds: number;
  }
  | {
    readonly type: "announce";
    readonly announcement: MeterAnnouncement;
    /** The announcement as published on `<root>/discovery/<id>`. */
    readonly message: CentralMessage;
    /** The meter was announced before, by another replica: this one takes it over. */
    readonly claim: boolean;
  }
  | { readonly type: "rejected"; readonly code: RejectionCode; readonly reason: string }
  | {
    readonly type: "implausible";
    readonly code: ImplausibleCode;
    readonly id: MeterId;
    readonly level: ReadingLevel;
    readonly reason: string;
  }
  | {
    readonly type: "register_reset";
    readonly id: MeterId;
    readonly level: ReadingLevel;
    readonly reset: RegisterReset;
  }
  | {
    readonly type: "dropped";
    readonly code: DropCode;
    readonly id: MeterId;
    readonly level: ReadingLevel;
    readonly reason: string;
  }
  | {
    readonly type: "incomplete";
    readonly id: MeterId;
    readonly level: ReadingLevel;
    readonly time: string;
    readonly packets: number;
    readonly cause: ExpiredReading["cause"];
  }
  | { readonly type: "zero_confirmed"; readonly id: MeterId; readonly level: ReadingLevel }
  | {
    readonly type: "clock_drift";
    readonly id: MeterId;
    /** Meter clock minus gateway clock, in seconds. */
    readonly driftSeconds: number;
  };

/** Turns raw uplink messages into central publications. Pure state machine. */
export class ReadingPipeline {
  readonly #reassembler: Reassembler;
  readonly #filter: ReadingFilter;
  readonly #announced = new Map<MeterId, MeterAnnouncement>();
  /** Payload fields by level, model and output shape: a handful of entries, not one per meter. */
  readonly #fields = new Map<string, PayloadFields>();
  readonly #driftReported = new Map<MeterId, number>();
  readonly #admission: MeterAdmission;

  constructor(public options: PipelineOptions, now: number = Date.now()) {
    this.#reassembler = new Reassembler({
      maxPending: options.limits.reassembly_max_pending,
      maxAgeMs: options.limits.reassembly_max_age_seconds * 1000,
    });
    this.#filter = new ReadingFilter(filterOptions(options));
    this.#admission = new MeterAdmission(admissionOptions(options), now);
  }

  /**
   * Applies new meter settings (exclusions, profiles, fields, time zone)
   * without losing the meters' history.
   */
  reconfigure(options: PipelineOptions): void {
    this.options = options;
    this.#filter.reconfigure(filterOptions(options));
    this.#admission.reconfigure(admissionOptions(options));
    this.#fields.clear();
  }

  /** Incomplete split readings currently held. */
  get pendingReadings(): number {
    return this.#reassembler.pending;
  }

  /** Meters whose readings' history the filters keep. */
  get historyMeters(): number {
    return this.#filter.meters;
  }

  /** Meters announced so far (by this process or found retained on central). */
  get announcedMeters(): number {
    return this.#announced.size;
  }

  /** Whether the meter is announced (by this process or retained on central). */
  isAnnounced(id: MeterId): boolean {
    return this.#announced.has(id);
  }

  /**
   * Whether the bridge knows the meter: announced, or with a filter history
   * (also one kept in `state_dir` from before a restart, when central's
   * retained announcements may be gone with an embedded central broker).
   */
  isKnown(id: MeterId): boolean {
    return this.#announced.has(id) || this.#filter.has(id);
  }

  /** The replica its announcement names, if any. */
  ownerOf(id: MeterId): string | undefined {
    return this.#announced.get(id)?.bridge;
  }

  /** The meter's announcement as known here. */
  announcementOf(id: MeterId): MeterAnnouncement | undefined {
    return this.#announced.get(id);
  }

  /** Ids of the announced meters. */
  announcedIds(): IterableIterator<MeterId> {
    return this.#announced.keys();
  }

  /** Forgets a meter whose announcement was cleared: it is announced again if it reports. */
  forgetAnnouncement(id: MeterId): void {
    this.#announced.delete(id);
  }

  /**
   * Whether an announcement found on central is older than the one known:
   * with replicas, a claim made before the one this bridge knows of. Claims
   * are counted, not timed (replicas' clocks differ): the higher count wins,
   * and of two equal counts (two replicas claiming at once) the greater
   * replica name. The replica that then gets the meter's readings claims it
   * anew, so ownership settles on it.
   */
  isStale(announcement: MeterAnnouncement): boolean {
    const known = this.#announced.get(announcement.id);
    if (known === undefined) return false;
    const [mine, theirs] = [known.claim ?? 0, announcement.claim ?? 0];
    if (theirs !== mine) return theirs < mine;
    return (announcement.bridge ?? "") < (known.bridge ?? "");
  }

  /**
   * Records an announcement found retained on central, so the meter is not
   * announced again and keeps its original `first_seen`. Beyond
   * `limits.max_meters` the least recently active meter is forgotten (and
   * announced again should it return).
   */
  rememberAnnouncement(announcement: MeterAnnouncement): void {
    const { id } = announcement;
    this.#announced.delete(id);
    this.#announced.set(id, announcement);
    if (this.#announced.size > this.options.limits.max_meters) {
      const oldest = this.#announced.keys().next().value;
      if (oldest !== undefined) this.#announced.delete(oldest);
    }
  }

  /**
   * Whether a message of the meter may be published (`meters.admission`). A
   * meter announced (here or by another replica) or with a filter history
   * (also one restored from before a restart) is known and not counted.
   */
  admit(id: MeterId, now: number): AdmissionVerdict {
    return this.#admission.check(id, this.isKnown(id), now);
  }

  /**
   * Handles one raw message received at `now` (epoch ms); `replayed` when
   * the broker sent it before (MQTT DUP flag) or handed over a retained one.
   */
  handle(
    topic: string,
    payload: Uint8Array,
    now: number,
    replayed?: Arrival["replayed"],
  ): PipelineEvent[] {
    const decoded = decodeReading(topic, payload, this.options.limits.max_payload_bytes);
    if ("ok" in decoded) return [{ type: "rejected", code: decoded.code, reason: decoded.reason }];
    const step = this.#reassembler.add(decoded, now);
    const events: PipelineEvent[] = step.expired.map(incomplete);
    if (step.complete !== undefined) this.#complete(step.complete, now, events, replayed);
    return events;
  }

  /** Forgets a meter's filter history on purpose (a meter replaced under the same id). */
  forgetHistory(id: MeterId): boolean {
    return this.#filter.forget(id);
  }

  /** A meter's filter history as JSON, to be stored with its readings. */
  meterState(id: MeterId): string | undefined {
    return this.#filter.exportMeter(id);
  }

  /** Restores filter histories stored by an earlier run. */
  restoreMeterStates(states: ReadonlyMap<string, string>): void {
    for (const [id, state] of states) this.#filter.restoreMeter(id as MeterId, state);
  }

  /** Gives up incomplete readings that are too old. */
  expire(now: number): PipelineEvent[] {
    return this.#reassembler.expire(now).map(incomplete);
  }

  #complete(
    reading: Reading,
    now: number,
    events: PipelineEvent[],
    replayed: Arrival["replayed"],
  ): void {
    // Excluded meters are dropped by the filter without taking an admission token.
    if (!this.options.meters.exclude.includes(reading.id)) {
      const admission = this.admit(reading.id, now);
      if (!admission.admitted) {
        events.push({ type: "rejected", code: admission.code, reason: admission.reason });
        return;
      }
    }
    const instant = this.options.clock.instantOf(reading.time);
    const driftMs = instant - now;
    const verdict = this.#filter.check(reading, { now, instant, replayed });
    if (!verdict.publish) {
      const { id, level } = reading;
      const { reason } = verdict;
      if (isImplausible(verdict.code)) {
        events.push({ type: "implausible", code: verdict.code, id, level, reason });
      } else {
        events.push({ type: "dropped", code: verdict.code, id, level, reason });
      }
      // A clock far off is set, also when its readings are refused (for their time, or while a
      // register reset waits for readings newer than the last published one). Repeats and
      // replays tell nothing new; excluded meters are left alone.
      if (verdict.code !== "duplicate" && verdict.code !== "excluded") {
        this.#checkDrift(reading, driftMs, now, events);
      }
      return;
    }
    if (verdict.zeroConfirmed) {
      events.push({ type: "zero_confirmed", id: reading.id, level: reading.level });
    }
    if (verdict.reset !== undefined) {
      events.push({
        type: "register_reset",
        id: reading.id,
        level: reading.level,
        reset: verdict.reset,
      });
    }
    const { root, replica } = this.options;
    const known = this.#announced.get(reading.id);
    if (known === undefined || (replica !== undefined && known.bridge !== replica)) {
      const announcement: MeterAnnouncement = {
        id: reading.id,
        model: modelOf(reading.id),
        first_seen: known?.first_seen ?? new Date(now).toISOString(),
        ...(replica === undefined ? {} : {
          bridge: replica,
          bridge_since: new Date(now).toISOString(),
          claim: (known?.claim ?? 0) + 1,
        }),
      };
      this.rememberAnnouncement(announcement);
      events.push({
        type: "announce",
        announcement,
        message: centralMessage("announcement", { root, id: reading.id }, announcement),
        claim: known !== undefined,
      });
    } else {
      // Most recently active last, so the limit forgets silent meters first.
      this.#announced.delete(reading.id);
      this.#announced.set(reading.id, known);
    }
    const payload = encodeReadingPayload(
      reading,
      this.options.clock.isoTimestamp(reading.time),
      this.#fieldsOf(reading.id, reading.level),
    );
    const { topic } = centralMessage(
      "reading",
      { root, id: reading.id, level: reading.level },
      payload,
    );
    events.push({
      type: "publish",
      id: reading.id,
      level: reading.level,
      topic,
      payload,
      retain: this.options.retainReadings,
      driftSeconds: Math.round(driftMs / 1000),
    });
    this.#checkDrift(reading, driftMs, now, events);
  }

  #checkDrift(reading: Reading, driftMs: number, now: number, events: PipelineEvent[]): void {
    if (Math.abs(driftMs) <= this.options.meters.time_sync.max_drift_seconds * 1000) return;
    const reported = this.#driftReported.get(reading.id);
    if (reported !== undefined && now - reported < DRIFT_REPORT_INTERVAL_MS) return;
    if (this.#driftReported.size >= this.options.limits.max_meters) this.#driftReported.clear();
    this.#driftReported.set(reading.id, now);
    events.push({ type: "clock_drift", id: reading.id, driftSeconds: Math.round(driftMs / 1000) });
  }

  /** The fields of a meter's payload, shared by every meter of the same shape and model. */
  #fieldsOf(id: MeterId, level: ReadingLevel): PayloadFields {
    const shape = meterSettings(this.options.meters, id);
    const model = modelOf(id);
    const key = `${level}|${model}|${shape.profile}|${shape.fields.join(",")}`;
    let fields = this.#fields.get(key);
    if (fields === undefined) {
      fields = payloadFields(level, shape, model);
      this.#fields.set(key, fields);
    }
    return fields;
  }
}

function filterOptions(options: PipelineOptions): FilterOptions {
  return {
    exclude: new Set(options.meters.exclude),
    zeroConfirmReadings: options.meters.zero_confirm_readings,
    maxMeters: options.limits.max_meters,
    resetConfirmReadings: options.meters.reset_confirm_readings,
    plausibility: options.meters.plausibility,
  };
}

function admissionOptions(options: PipelineOptions): AdmissionOptions {
  const { admission } = options.meters;
  return {
    newPerMinute: admission.new_per_minute,
    burst: admission.burst,
    allow: admission.allow,
    maxRemembered: options.limits.max_meters,
  };
}

const IMPLAUSIBLE: ReadonlySet<string> = new Set<ImplausibleCode>([
  "implausible_value",
  "implausible_rise",
  "implausible_time",
]);

function isImplausible(code: string): code is ImplausibleCode {
  return IMPLAUSIBLE.has(code);
}

function incomplete(expired: ExpiredReading): PipelineEvent {
  return {
    type: "incomplete",
    id: expired.reading.id,
    level: expired.reading.level,
    time: expired.reading.time,
    packets: expired.packets,
    cause: expired.cause,
  };
}
