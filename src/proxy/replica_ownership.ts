/**
 * Meter announcements on `<root>/discovery/<id>` and, with replicas
 * (`cluster.share_group`), which replica handles each meter: a newer claim by
 * another replica hands the meter over, an older one is answered with this
 * replica's own claim again, and a cleared announcement removes the meter.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { isMeterId, type MeterId } from "../protocol/meter_id.ts";
import { type CentralMessage, centralMessage, clearMessage } from "../protocol/central_message.ts";
import { MeterAnnouncement } from "../protocol/topics.ts";
import type { Clock } from "./central_port.ts";
import type { MeterRegistry } from "./meter_registry.ts";
import type { ReadingPipeline } from "./pipeline.ts";

/** What the ownership acts on. */
export interface OwnershipPort {
  root(): string;
  homeAssistantEnabled(): boolean;
  /** Publishes directly on central (retained). */
  publish(message: CentralMessage): void;
  /** Removes the meter's Home Assistant device. */
  removeDiscovery(id: MeterId): void;
  /** Stops tracking the meter's discovery (another replica reports it). */
  forgetDiscovery(id: MeterId): void;
  /** Logs a warning, rate limited per key. */
  warnLimited(key: string, message: string, properties: Record<string, unknown>): void;
}

/** The pipeline's announcement memory. */
export type AnnouncementMemory = Pick<
  ReadingPipeline,
  | "isAnnounced"
  | "ownerOf"
  | "announcementOf"
  | "announcedIds"
  | "forgetAnnouncement"
  | "isStale"
  | "rememberAnnouncement"
>;

/** Announcements in, ownership out. */
export class ReplicaOwnership {
  /** When the last announcement arrived (epoch ms), for the announcements' load. */
  lastAnnouncementAt = 0;

  /** @param replica this replica's name; undefined for a bridge alone */
  constructor(
    readonly replica: string | undefined,
    readonly announcements: AnnouncementMemory,
    readonly registry: Pick<MeterRegistry, "has" | "remember" | "forget">,
    readonly port: OwnershipPort,
    readonly now: Clock,
    readonly log: Logger,
  ) {}

  /** Whether this proxy handles the meter: every announced one, or with replicas its own. */
  owns(id: MeterId): boolean {
    if (this.replica === undefined) return this.announcements.isAnnounced(id);
    return this.announcements.ownerOf(id) === this.replica;
  }

  /** The meters this proxy handles. */
  *ownedIds(): Iterable<MeterId> {
    for (const id of this.announcements.announcedIds()) if (this.owns(id)) yield id;
  }

  /** A message on `<root>/discovery/<id>`. */
  onAnnouncement(topic: string, payload: Uint8Array): void {
    if (payload.byteLength === 0) {
      this.#cleared(topic.slice(topic.lastIndexOf("/") + 1));
      return;
    }
    let announcement: MeterAnnouncement;
    try {
      const parsed = MeterAnnouncement.safeParse(JSON.parse(new TextDecoder().decode(payload)));
      if (!parsed.success) return;
      announcement = parsed.data;
    } catch {
      this.log.debug("Ignoring unreadable retained announcement on {topic}", { topic });
      return;
    }
    const { id } = announcement;
    this.lastAnnouncementAt = this.now();
    if (this.replica !== undefined && this.announcements.isStale(announcement)) {
      // An older claim (delayed in another replica's outbox, or retained from before) must not
      // stay retained over this replica's own: it would mislead the next replica to start.
      if (this.owns(id)) this.#reassertClaim(id);
      return;
    }
    this.announcements.rememberAnnouncement(announcement);
    if (this.replica === undefined || announcement.bridge === this.replica) {
      this.registry.remember(id, this.now());
    } else {
      this.#handOver(id, announcement.bridge);
    }
  }

  /** Cleared by the user: the meter is removed, with its Home Assistant device. */
  #cleared(id: string): void {
    if (!isMeterId(id) || !this.announcements.isAnnounced(id)) return;
    if (this.port.homeAssistantEnabled()) this.port.removeDiscovery(id);
    const params = { root: this.port.root(), id };
    for (const kind of ["availability", "status", "io", "relay"] as const) {
      this.port.publish(clearMessage(kind, params));
    }
    this.announcements.forgetAnnouncement(id);
    this.registry.forget(id);
    this.log.info("Meter {id} removed (announcement cleared)", { id });
  }

  /** Publishes this replica's claim of a meter again, over an older one. */
  #reassertClaim(id: MeterId): void {
    const announcement = this.announcements.announcementOf(id);
    if (announcement === undefined) return;
    this.port.publish(centralMessage("announcement", { root: this.port.root(), id }, announcement));
  }

  /**
   * Another replica took a meter over (the broker routes it there now): this
   * one stops reporting its availability, status and discovery.
   */
  #handOver(id: MeterId, to: string | undefined): void {
    if (this.registry.has(id)) {
      this.port.warnLimited(
        "handover",
        "Meter {id} is handled by replica {to} now; a meter moves when the replicas of the " +
          "shared subscription change, and on every reading if the broker does not route each " +
          "meter to one replica (docs/scaling.md)",
        { id, to: to ?? "(none)" },
      );
    }
    this.registry.forget(id);
    this.port.forgetDiscovery(id);
  }
}
