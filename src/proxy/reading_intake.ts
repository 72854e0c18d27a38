/**
 * Raw messages from the internal broker into the {@link ReadingPipeline}
 * and on to the {@link ReadingFlow}: nothing is taken (or acknowledged) once
 * the proxy stops, readings wait for the announcements, digital I/O
 * (`MQTT_TELEIND`) goes its own way, and a message the broker hands over
 * again is marked as such for the plausibility filter.
 *
 * @module
 */
import { AnnouncementGate, realTimers, type Timers } from "./announcement_gate.ts";
import type { Clock } from "./central_port.ts";
import type { ReadingPipeline } from "./pipeline.ts";
import type { ProxyStats } from "./proxy_stats.ts";
import type { ReadingFlow } from "./reading_flow.ts";

/** A message from the internal broker, as the intake reads it (an mqtt.js packet is one). */
export interface InternalMessage {
  readonly topic: string;
  readonly payload: Uint8Array | string;
  /** Sent again by the broker (MQTT DUP flag). */
  readonly dup: boolean;
  /** Handed over from the broker's retained messages. */
  readonly retain: boolean;
}

/** What the intake hands messages to. */
export interface ReadingIntakePort {
  /** Whether the proxy is stopping. */
  stopping(): boolean;
  /** When the last announcement arrived (epoch ms). */
  lastAnnouncementAt(): number;
  readonly stats: Pick<ProxyStats, "received">;
  readonly pipeline: Pick<ReadingPipeline, "handle" | "expire">;
  readonly flow: Pick<ReadingFlow, "onIo" | "apply">;
}

/** Takes the internal broker's messages in. */
export class ReadingIntake {
  /** Holds readings until the announcements are in; a reading it releases is taken anew. */
  readonly gate: AnnouncementGate<[InternalMessage, () => void]>;

  constructor(readonly port: ReadingIntakePort, readonly now: Clock, timers: Timers = realTimers) {
    this.gate = new AnnouncementGate(
      () => port.lastAnnouncementAt(),
      ([message, ack]) => this.onMessage(message, ack),
      now,
      timers,
    );
  }

  /** One message; `ack` acknowledges it to the internal broker once it is safe. */
  onMessage(message: InternalMessage, ack: () => void): void {
    const { port } = this;
    // Not acknowledged: the internal broker sends it again to the next session.
    if (port.stopping() || this.gate.hold([message, ack])) return;
    port.stats.received(message.topic);
    if (message.topic === "MQTT_TELEIND") {
      port.flow.onIo(message.payload as Uint8Array, ack);
      return;
    }
    // A retained reading is handed over at every (re)subscribe: like a redelivery, it is not news.
    const replayed = message.dup ? "redelivered" : message.retain ? "retained" : undefined;
    const events = port.pipeline.handle(
      message.topic,
      message.payload as Uint8Array,
      this.now(),
      replayed,
    );
    port.flow.apply(events, message.topic, ack);
  }

  /** Gives up split readings that stayed incomplete too long. */
  expire(): void {
    this.port.flow.apply(this.port.pipeline.expire(this.now()));
  }
}
