/**
 * Keeps Home Assistant's discovery configurations of this bridge's meters in
 * line with the configuration: publishes each meter's entities (retained),
 * and clears (empty retained payload) the ones a changed configuration no
 * longer wants, found retained on the broker. Home Assistant announcing
 * `online` gets everything again. The bridge device's few configurations go
 * out at once, ahead of the meters that are connected through it.
 *
 * Paced for large fleets: meters wait in a queue drained at
 * `homeassistant.discovery_messages_per_second`, so a mass reconnect or a
 * Home Assistant restart with thousands of meters cannot flood the broker
 * (and Home Assistant, which creates an entity per message). What was
 * published is remembered as a digest per topic, not as the payload.
 *
 * @module
 */
import type { MeterSettings } from "../config/meter_settings.ts";
import { type CentralMessage, centralMessage, clearMessage } from "../protocol/central_message.ts";
import type { MeterId } from "../protocol/meter_id.ts";
import {
  type DiscoveredMeter,
  type DiscoveryConfigs,
  discoveryConfigs,
  type DiscoveryContext,
  isStale,
  parseDiscoveryTopic,
} from "../protocol/home_assistant.ts";
import { bridgeDiscoveryConfigs } from "../protocol/home_assistant_bridge.ts";
import { digest } from "../runtime/hash.ts";
import { PacedQueue } from "../runtime/paced_queue.ts";

/** Publishes one retained message (QoS 1). */
export type RetainedPublish = (message: CentralMessage) => void;

/** How the publisher learns about meters. */
export interface DiscoverySource {
  /** Meters this bridge publishes discovery for, excluded ones included. */
  meters(): Iterable<MeterId>;
  /** Whether the meter is one of this bridge's: only those are touched. */
  known(id: MeterId): boolean;
  /** Whether the meter is excluded (its entities are removed). */
  excluded(id: MeterId): boolean;
  settings(id: MeterId): MeterSettings;
  io(id: MeterId): boolean;
}

/** Bounds of the publisher. */
export interface DiscoveryLimits {
  /** Most meters whose configurations are remembered. */
  readonly maxMeters: number;
  /** Discovery messages per second; 0 is unlimited. */
  readonly messagesPerSecond: number;
}

/** Home Assistant discovery for the proxy. */
export class DiscoveryPublisher {
  /** Digests of the configurations found retained on the broker or published: topic → digest. */
  readonly #existing = new Map<MeterId, Map<string, number>>();
  readonly #queue: PacedQueue<MeterId>;
  /** Queued meters whose unchanged configurations are sent again too. */
  readonly #forced = new Set<MeterId>();
  /** Digests of the bridge device's configurations published: topic → digest. */
  readonly #bridge = new Map<string, number>();
  #maxMeters: number;

  constructor(
    public context: DiscoveryContext,
    readonly source: DiscoverySource,
    readonly publish: RetainedPublish,
    limits: DiscoveryLimits,
    now: number,
  ) {
    this.#maxMeters = limits.maxMeters;
    this.#queue = new PacedQueue(bucket(limits), (id) => this.#publishNow(id), now);
  }

  /** Applies new limits; queued meters keep their place. */
  setLimits(limits: DiscoveryLimits): void {
    this.#maxMeters = limits.maxMeters;
    this.#queue.setRate(bucket(limits));
  }

  /** Meters whose configurations are remembered (at most `maxMeters`). */
  get rememberedMeters(): number {
    return this.#existing.size;
  }

  /** Meters waiting for their turn. */
  get queued(): number {
    return this.#queue.size;
  }

  /**
   * Queues a meter: its entities are published and its stale ones cleared
   * when its turn comes; unchanged ones are not re-sent unless `force`.
   */
  publishMeter(id: MeterId, force = false): void {
    if (!this.source.known(id)) return;
    if (force) this.#forced.add(id);
    this.#queue.add(id);
  }

  /** Publishes the bridge device's configurations now; unchanged ones only with `force`. */
  publishBridge(force: boolean): void {
    for (const [topic, payload] of bridgeDiscoveryConfigs(this.context)) {
      const hash = digest(payload);
      if (!force && this.#bridge.get(topic) === hash) continue;
      this.#bridge.set(topic, hash);
      this.publish(centralMessage("discovery_config", { topic }, payload));
    }
  }

  /** Everything again: Home Assistant restarted, or the configuration changed. */
  publishAll(force: boolean): void {
    for (const id of this.source.meters()) this.publishMeter(id, force);
  }

  /**
   * The bridge device's configurations now and every meter's queued: on each
   * connect to central and when Home Assistant comes online (`force`), or
   * after a configuration change (only what changed).
   */
  republish(force: boolean): void {
    this.publishBridge(force);
    this.publishAll(force);
  }

  /** Publishes queued meters as the rate allows; call it from a timer. */
  drain(now: number): void {
    this.#queue.drain(now);
  }

  /** Publishes a meter's configurations now; returns how many messages that took. */
  #publishNow(id: MeterId): number {
    const force = this.#forced.delete(id);
    if (!this.source.known(id)) return 0;
    const meter = this.#meter(id);
    const wanted: DiscoveryConfigs = meter === undefined
      ? new Map()
      : discoveryConfigs(this.context, meter);
    const existing = this.#existingOf(id);
    let sent = 0;
    for (const [topic, payload] of wanted) {
      const hash = digest(payload);
      if (!force && existing.get(topic) === hash) continue;
      existing.set(topic, hash);
      this.publish(centralMessage("discovery_config", { topic }, payload));
      sent++;
    }
    for (const topic of [...existing.keys()]) {
      const entity = parseDiscoveryTopic(this.context.prefix, topic);
      if (entity === undefined || !isStale(meter, entity, wanted, topic)) continue;
      existing.delete(topic);
      this.publish(clearMessage("discovery_config", { topic }));
      sent++;
    }
    return sent;
  }

  #meter(id: MeterId): DiscoveredMeter | undefined {
    if (this.source.excluded(id)) return undefined;
    return { id, settings: this.source.settings(id), io: this.source.io(id) };
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
    if (payload.byteLength === 0) {
      existing.delete(topic);
      return;
    }
    const hash = digest(new TextDecoder().decode(payload));
    if (existing.get(topic) === hash) return;
    existing.set(topic, hash);
    this.publishMeter(entity.id);
  }

  /** Clears every entity of a removed meter (its announcement was cleared) and forgets it. */
  remove(id: MeterId): void {
    for (const topic of this.#existing.get(id)?.keys() ?? []) {
      this.publish(clearMessage("discovery_config", { topic }));
    }
    this.forget(id);
  }

  /** Forgets a meter without touching its entities (another bridge handles it now). */
  forget(id: MeterId): void {
    this.#existing.delete(id);
    this.#queue.delete(id);
    this.#forced.delete(id);
  }

  #existingOf(id: MeterId): Map<string, number> {
    let existing = this.#existing.get(id);
    if (existing !== undefined) return existing;
    if (this.#existing.size >= this.#maxMeters) {
      // The oldest remembered meter is forgotten; at worst its unchanged entities are re-sent.
      const oldest = this.#existing.keys().next().value;
      if (oldest !== undefined) this.#existing.delete(oldest);
    }
    existing = new Map();
    this.#existing.set(id, existing);
    return existing;
  }
}

function bucket(limits: DiscoveryLimits) {
  return { ratePerSecond: limits.messagesPerSecond, burst: Math.max(1, limits.messagesPerSecond) };
}
