/**
 * What the proxy derives from the configuration: its replica name, its own
 * bridge topics and shared filters (with replicas), and the options of the
 * reading pipeline and Home Assistant discovery. Pure.
 *
 * @module
 */
import denoJson from "../../deno.json" with { type: "json" };
import type { Config } from "../config/schema.ts";
import { type BridgeParams, centralTopic } from "../protocol/central_message.ts";
import { sharedFilter } from "../protocol/cluster.ts";
import type { DiscoveryContext } from "../protocol/home_assistant.ts";
import { MeterClock } from "../protocol/meter_time.ts";
import type { DiscoveryLimits } from "./discovery_publisher.ts";
import type { PipelineOptions } from "./pipeline.ts";

/** This replica's name when replicas share the meters (`cluster.share_group`). */
export function replicaOf(config: Config): string | undefined {
  return config.cluster.share_group === "" ? undefined : config.cluster.replica;
}

/** Where this proxy's bridge topics go: `<root>/bridge/…`, or with replicas its own. */
export function ownBridge(config: Config): BridgeParams {
  return { root: config.topics.root, replica: replicaOf(config) };
}

/** A filter as this proxy subscribes to it: shared among the replicas, if any. */
export function shared(config: Config, filter: string): string {
  const group = config.cluster.share_group;
  return group === "" ? filter : sharedFilter(group, filter);
}

/** The reading pipeline's options from the configuration. */
export function pipelineOptions(config: Config): PipelineOptions {
  return {
    root: config.topics.root,
    retainReadings: config.topics.retain_readings,
    meters: config.meters,
    limits: config.limits,
    clock: new MeterClock(config.meters.timezone),
    replica: replicaOf(config),
  };
}

/** Bounds of Home Assistant discovery from the configuration. */
export function discoveryLimits(config: Config): DiscoveryLimits {
  return {
    maxMeters: config.limits.max_meters,
    messagesPerSecond: config.homeassistant.discovery_rate_per_second,
  };
}

/** What discovery configurations are built from, from the configuration. */
export function discoveryContext(config: Config): DiscoveryContext {
  return {
    root: config.topics.root,
    prefix: config.homeassistant.discovery_prefix,
    version: denoJson.version,
    availabilityFactor: config.meters.availability_factor,
    stateTopic: centralTopic("bridge_state", ownBridge(config)),
    infoTopic: centralTopic("bridge_info", ownBridge(config)),
    replica: replicaOf(config),
  };
}
