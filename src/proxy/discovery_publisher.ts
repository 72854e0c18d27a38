/**
 * Keeps Home Assistant's discovery configurations of this bridge's meters in
 * line with the configuration: publishes each meter's entities (retained),
 * and clears (empty retained payload) the ones a changed configuration no
 * longer wants, found retained on the broker. Home Assistant announcing
 * `online` gets everything again.
 *
 * @module
 */
import type { MeterSettings } from "../config/meter_settings.ts";
import type { MeterId } from "../protocol/meter_id.ts";
import {
  type DiscoveredMeter,
  discoveryConfigs,
  type DiscoveryContext,
  isStale,
  parseDiscoveryTopic,
} from "../protocol/home_assistant.ts";

/** Publishes one retained message (QoS 1). */
export type RetainedPublish = (topic: string, payload: string) => void;

/** How the publisher learns about meters. */
export interface DiscoverySource {
  /** Meters of this bridge (announced), excluded ones included. */
  meters(): Iterable<MeterId>;
  /** Whether the meter is one of this bridge's: only those are touched. */
  known(id: MeterId): boolean;
  /** Whether the meter is excluded (its entities are removed). */
  excluded(id: MeterId): boolean;
  settings(id: MeterId): MeterSettings;
  io(id: MeterId): boolean;
}

/** Home Assistant discovery for the proxy. */
export class DiscoveryPublisher {
  /** Configurations found retained on the broker or published, per meter: topic → payload. */
  readonly #existing = new Map<MeterId, Map<string, string>>();

  constructor(
    public context: DiscoveryContext,
    readonly source: DiscoverySource,
    readonly publish: RetainedPublish,
    readonly maxMeters: number,
  ) {}

  #meter(id: MeterId): DiscoveredMeter | undefined {
    if (this.source.excluded(id)) return undefined;
    return { id, settings: this.source.settings(id), io: this.source.io(id) };
  }

  /** Publishes a meter's entities and clears its stale ones; unchanged ones are not re-sent. */
  publishMeter(id: MeterId, force = false): void {
    if (!this.source.known(id)) return;
    const meter = this.#meter(id);
    const wanted = meter === undefined ? new Map() : discoveryConfigs(this.context, meter);
    const existing = this.#existingOf(id);
    if (existing === undefined) return;
    for (const [topic, payload] of wanted) {
      if (!force && existing.get(topic) === payload) continue;
      existing.set(topic, payload);
      this.publish(topic, payload);
    }
    for (const topic of [...existing.keys()]) {
      const entity = parseDiscoveryTopic(this.context.prefix, topic);
      if (entity === undefined || !isStale(meter, entity, wanted, topic)) continue;
      existing.delete(topic);
      this.publish(topic, "");
    }
  }

  /** Everything again: Home Assistant restarted, or the configuration changed. */
  publishAll(force: boolean): void {
    for (const id of this.source.meters()) this.publishMeter(id, force);
  }

  /**
   * A configuration found on the broker (retained, or published by someone
   * else). One for a meter this bridge has but does not want is cleared;
   * configurations of meters this bridge does not know are left alone, they
   * may belong to another bridge.
   */
  onConfig(topic: string, payload: Uint8Array): void {
    const entity = parseDiscoveryTopic(this.context.prefix, topic);
    if (entity === undefined || !this.source.known(entity.id)) return;
    const existing = this.#existingOf(entity.id);
    if (existing === undefined) return;
    if (payload.byteLength === 0) {
      existing.delete(topic);
      return;
    }
    const text = new TextDecoder().decode(payload);
    if (existing.get(topic) === text) return;
    existing.set(topic, text);
    this.publishMeter(entity.id);
  }

  /** Clears every entity of a removed meter (its announcement was cleared) and forgets it. */
  remove(id: MeterId): void {
    for (const topic of this.#existing.get(id)?.keys() ?? []) this.publish(topic, "");
    this.#existing.delete(id);
  }

  #existingOf(id: MeterId): Map<string, string> | undefined {
    let existing = this.#existing.get(id);
    if (existing === undefined) {
      if (this.#existing.size >= this.maxMeters) return undefined;
      existing = new Map();
      this.#existing.set(id, existing);
    }
    return existing;
  }
}
