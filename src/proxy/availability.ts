/**
 * Meters' availability on `<root>/<id>/availability` (retained): `online`
 * with a reading, `offline` after a silence of the meter's availability
 * timeout.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { MeterSettings } from "../config/meter_settings.ts";
import type { MeterId } from "../protocol/meter_id.ts";
import { type CentralMessage, centralMessage } from "../protocol/central_message.ts";
import type { AvailabilityChange, MeterRegistry } from "./meter_registry.ts";

/** Publishes availability changes. */
export class MeterAvailability {
  /** @param publish publishes directly on central (retained) */
  constructor(
    readonly root: () => string,
    readonly registry: Pick<MeterRegistry, "expire" | "availabilities">,
    readonly settingsOf: (id: MeterId) => MeterSettings,
    readonly publish: (message: CentralMessage) => void,
    readonly log: Logger,
  ) {}

  /** Publishes one change. */
  publishChange(change: AvailabilityChange): void {
    const params = { root: this.root(), id: change.id };
    this.publish(centralMessage("availability", params, change.availability));
  }

  /** Publishes every known meter's availability again (central may have lost it). */
  publishAll(): void {
    for (const change of this.registry.availabilities()) this.publishChange(change);
  }

  /** Takes meters silent for too long by `now` offline. */
  check(now: number): void {
    for (const change of this.registry.expire(now)) {
      this.log.info("Meter {id} is offline: no reading for {seconds} s", {
        id: change.id,
        seconds: this.settingsOf(change.id).availabilityTimeoutSeconds,
      });
      this.publishChange(change);
    }
  }
}
