/**
 * Carries out what the {@link ReadingPipeline} decided about a reading:
 * publications into the outbox, counters, the meter registry, logs,
 * availability and Home Assistant discovery. Also the meters' digital I/O
 * (`MQTT_TELEIND`), published as is on `<root>/<id>/io` and `…/relay`, a
 * relay switched on command, and the count of what central acknowledged.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { Config } from "../config/schema.ts";
import { parseCentralTopic } from "../protocol/central_topic.ts";
import { decodeUplink } from "../protocol/decode.ts";
import { ioPayload } from "../protocol/io_state.ts";
import { isMeterId, type MeterId } from "../protocol/meter_id.ts";
import { type CentralMessage, centralMessage } from "../protocol/central_message.ts";
import type { RelayState } from "../protocol/meter_status.ts";
import type { Publication } from "../outbox/outbox_store.ts";
import type { BridgeEvent } from "../worker/messages.ts";
import type { Clock } from "./central_port.ts";
import type { AvailabilityChange, MeterRegistry } from "./meter_registry.ts";
import type { PipelineEvent, ReadingPipeline } from "./pipeline.ts";
import type { ProxyStats } from "./proxy_stats.ts";

/** What the events act on. */
export interface ReadingFlowPort {
  config(): Config;
  readonly stats: ProxyStats;
  readonly pipeline: Pick<ReadingPipeline, "admit">;
  readonly registry: Pick<
    MeterRegistry,
    "published" | "implausible" | "reset" | "dropped" | "seen" | "io" | "delivered" | "relay"
  >;
  /** Whether this proxy handles the meter (with replicas: its own). */
  owns(id: MeterId): boolean;
  /** Publishes retained on central now, not through the outbox (skipped while disconnected). */
  publishRetained(message: CentralMessage): void;
  /** Hands publications to the outbox; `ack` once it holds them. */
  accept(publications: Publication[], meterIds: Set<string>, ack: () => void): void;
  /** Publishes the meter's Home Assistant discovery, if not yet. */
  discoverMeter(id: MeterId): void;
  availabilityChanged(change: AvailabilityChange): void;
  emit(event: BridgeEvent): void;
  /** Logs a warning, rate limited per key. */
  warnLimited(key: string, message: string, properties: Record<string, unknown>): void;
}

/** Applies pipeline events and I/O messages. */
export class ReadingFlow {
  constructor(readonly port: ReadingFlowPort, readonly now: Clock, readonly log: Logger) {}

  /** Digital I/O of a meter: published retained on `<root>/<id>/io` and `…/relay`. */
  onIo(payload: Uint8Array, ack: () => void): void {
    const maxBytes = this.port.config().limits.max_payload_bytes;
    const decoded = decodeUplink("MQTT_TELEIND", payload, maxBytes);
    if (!decoded.ok) {
      this.apply(
        [{ type: "rejected", code: decoded.code, reason: decoded.reason }],
        "MQTT_TELEIND",
        ack,
      );
      return;
    }
    const { id } = decoded.payload;
    if (this.port.config().meters.exclude.includes(id)) {
      this.port.stats.dropped("excluded");
      ack();
      return;
    }
    const now = this.now();
    const admission = this.port.pipeline.admit(id, now);
    if (!admission.admitted) {
      const { code, reason } = admission;
      this.apply([{ type: "rejected", code, reason }], "MQTT_TELEIND", ack);
      return;
    }
    const io = ioPayload(decoded.payload.value);
    const first = this.port.owns(id) && this.port.registry.io(id, io, now);
    const params = { root: this.port.config().topics.root, id };
    this.port.accept(
      [
        { ...centralMessage("io", params, io), retain: true },
        { ...centralMessage("relay", params, io.do1), retain: true },
      ],
      new Set(),
      ack,
    );
    if (first && this.port.config().homeassistant.enabled) this.port.discoverMeter(id);
  }

  /** A meter confirmed a relay command: its state is recorded (if handled here) and published. */
  relaySwitched(id: MeterId, state: RelayState): void {
    if (this.port.owns(id)) this.port.registry.relay(id, state, this.now());
    this.port.publishRetained(
      centralMessage("relay", { root: this.port.config().topics.root, id }, state),
    );
  }

  /** Central acknowledged a publication of the outbox: counted, and taken off its meter's backlog. */
  delivered(topic: string): void {
    const parsed = parseCentralTopic(this.port.config().topics.root, topic);
    if (parsed.kind === "announcement") {
      this.port.stats.announced();
    } else if (parsed.kind === "reading") {
      this.port.stats.published(parsed.level);
      if (isMeterId(parsed.id)) this.port.registry.delivered(parsed.id);
    }
  }

  /**
   * Carries out the pipeline's events. `ack` acknowledges the message they
   * came from; it is called once its publications are accepted by the outbox.
   * A packet of a split reading that is not complete yet is acknowledged at
   * once: holding it would hold a slot of the internal broker's in-flight
   * window (20 by default) for up to `limits.reassembly_max_age_seconds`, and
   * enough of them would stop the flow.
   */
  apply(events: PipelineEvent[], topic?: string, ack?: () => void): void {
    const publications: Publication[] = [];
    const meterIds = new Set<string>();
    const now = this.now();
    const seen = new Set<MeterId>();
    /** Meters announced (or claimed) by these events: their discovery follows. */
    const announced: MeterId[] = [];
    for (const event of events) {
      switch (event.type) {
        case "publish": {
          publications.push({ topic: event.topic, payload: event.payload, retain: event.retain });
          meterIds.add(event.id);
          seen.add(event.id);
          this.port.registry.published(
            event.id,
            event.level,
            event.payload,
            event.driftSeconds,
            now,
          );
          break;
        }
        case "announce":
          publications.push({ ...event.message, retain: true });
          announced.push(event.announcement.id);
          if (event.claim) {
            this.log.debug(
              "Meter {id} is handled by this replica ({bridge}) now",
              event.announcement,
            );
          } else {
            this.log.info("New meter {id} ({model}) found", event.announcement);
          }
          break;
        case "rejected":
          this.port.stats.rejected(event.code);
          this.port.warnLimited(event.code, "Rejected {topic} message ({code}): {reason}", {
            topic: JSON.stringify(topic ?? ""),
            code: event.code,
            reason: event.reason,
          });
          break;
        case "implausible":
          this.port.stats.rejected(event.code);
          if (this.port.owns(event.id)) {
            seen.add(event.id);
            this.port.registry.implausible(event.id, event.reason);
          }
          this.port.warnLimited(
            event.code,
            "Rejected {level} reading of {id} ({code}): {reason}",
            event,
          );
          break;
        case "register_reset":
          this.port.stats.registerReset();
          if (this.port.owns(event.id)) {
            this.port.registry.reset(event.id, event.level, event.reset, now);
          }
          this.log.warn(
            "Meter {id}: register {register} restarted from {from} at {to} ({level} level) and " +
              "went on consistently; accepted as a register reset",
            { id: event.id, level: event.level, ...event.reset },
          );
          break;
        case "dropped":
          this.port.stats.dropped(event.code);
          // Only meters this bridge handles: not ids that only ever send zeros, and with replicas
          // not a meter another replica took over (a redelivered copy reaching this one).
          if (event.code !== "excluded" && this.port.owns(event.id)) {
            seen.add(event.id);
            this.port.registry.dropped(event.id, event.code);
          }
          if (event.code === "energy_regression") {
            this.port.warnLimited(event.code, "Dropped {level} reading of {id}: {reason}", event);
          } else {
            this.log.debug("Dropped {level} reading of {id} ({code}): {reason}", event);
          }
          break;
        case "incomplete":
          this.port.stats.incomplete();
          this.port.warnLimited(
            "incomplete",
            "Gave up split {level} reading of {id} at {time} after {packets} packets ({cause})",
            event,
          );
          break;
        case "zero_confirmed":
          this.log.info(
            "Meter {id} reports zero {level} registers consistently: publishing them",
            event,
          );
          break;
        case "clock_drift":
          this.log.debug("Clock of {id} is off by {drift} s", {
            id: event.id,
            drift: event.driftSeconds,
          });
          this.port.emit({ type: "clock_drift", id: event.id, drift_seconds: event.driftSeconds });
          break;
        default:
          event satisfies never;
      }
    }
    if (publications.length > 0 || ack !== undefined) {
      this.port.accept(publications, meterIds, ack ?? (() => {}));
    }
    for (const id of seen) {
      const change = this.port.registry.seen(id, now);
      if (change === undefined) continue;
      this.port.availabilityChanged(change);
      if (this.port.config().homeassistant.enabled) this.port.discoverMeter(id);
    }
    // A meter may come online with a reading that is not published (a zero burst, a repeat):
    // it is discovered with the first one that announces it.
    if (this.port.config().homeassistant.enabled) {
      for (const id of announced) this.port.discoverMeter(id);
    }
  }
}
