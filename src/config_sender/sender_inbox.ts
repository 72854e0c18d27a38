/**
 * What the configuration flow reads from the brokers, decoded: command
 * replies from the internal broker (handed to the dispatcher) and meter
 * announcements from the central one (a meter to configure, or a cleared
 * announcement: a meter removed). Bad messages are logged and dropped.
 *
 * @module
 */
import { logger } from "../logging/setup.ts";
import { isCommandReplyTopic } from "../protocol/commands.ts";
import { decodeUplink } from "../protocol/decode.ts";
import { isMeterId, type MeterId } from "../protocol/meter_id.ts";
import { MeterAnnouncement } from "../protocol/topics.ts";
import type { CommandReply } from "../protocol/uplink.ts";

const log = logger("config_sender");

/** Where decoded messages go. */
export interface SenderInboxPort {
  /** `limits.max_payload_bytes`: larger replies are rejected. */
  maxPayloadBytes(): number;
  /** Offers a command reply; returns whether it settled an outstanding command. */
  reply(topic: string, reply: CommandReply): boolean;
  /** A meter was announced. */
  announced(id: MeterId): void;
  /** A meter's announcement was cleared: it was removed. */
  cleared(id: MeterId): void;
}

/** Decodes replies and announcements and hands them on. */
export class SenderInbox {
  constructor(readonly port: SenderInboxPort) {}

  /** Takes a message from the internal broker. */
  onReply(topic: string, payload: Uint8Array): void {
    if (!isCommandReplyTopic(topic)) return;
    const decoded = decodeUplink(topic, payload, this.port.maxPayloadBytes());
    if (!decoded.ok) {
      log.warn("Rejected {topic} reply ({code}): {reason}", {
        topic,
        code: decoded.code,
        reason: decoded.reason,
      });
      return;
    }
    const reply = decoded.payload;
    if (!this.port.reply(topic, reply)) {
      log.debug("Reply on {topic} from {id} matches no outstanding command (oprid {oprid})", {
        topic,
        id: reply.id,
        oprid: reply.oprid,
      });
    }
  }

  /** Takes an announcement (`<root>/discovery/<id>`) from the central broker. */
  onAnnouncement(topic: string, payload: Uint8Array): void {
    const topicId = topic.slice(topic.lastIndexOf("/") + 1);
    if (payload.byteLength === 0) {
      // A cleared announcement: the meter was removed.
      if (isMeterId(topicId)) this.port.cleared(topicId);
      return;
    }
    let announcement: MeterAnnouncement;
    try {
      announcement = MeterAnnouncement.parse(JSON.parse(new TextDecoder().decode(payload)));
    } catch {
      log.warn("Ignoring an unreadable announcement on {topic}", { topic: JSON.stringify(topic) });
      return;
    }
    if (announcement.id !== topicId) {
      log.warn("Ignoring an announcement of {id} on {topic}", {
        id: announcement.id,
        topic: JSON.stringify(topic),
      });
      return;
    }
    this.port.announced(announcement.id);
  }
}
