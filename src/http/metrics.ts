/**
 * `/metrics`: the bridge's state in the Prometheus text exposition format
 * 0.0.4. Pure: renders what the latest snapshot and worker states say.
 *
 * @module
 */
import type { BridgeSnapshot, Histogram, WorkerState } from "../status/bridge_snapshot.ts";

/** Version and start time of the bridge, for the metrics that exist before the first snapshot. */
export interface BridgeIdentity {
  readonly version: string;
  /** ISO time the bridge process started. */
  readonly started_at: string;
}

/** Content type of the text exposition format 0.0.4. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const PREFIX = "kpm33b_";

type Labels = Readonly<Record<string, string>>;
type Sample = readonly [labels: Labels, value: number];

/** Escapes a label value: backslash, double quote and line feed. */
function escapeLabelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function formatLabels(labels: Labels): string {
  const pairs = Object.entries(labels).map(([name, value]) =>
    `${name}="${escapeLabelValue(value)}"`
  );
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

/** Collects metric families in order and renders them. */
class Exposition {
  readonly #lines: string[] = [];

  /** One metric family; `samples` may be empty (the family is still declared). */
  family(
    name: string,
    type: "gauge" | "counter",
    help: string,
    samples: readonly Sample[],
  ): void {
    this.#header(name, type, help);
    for (const [labels, value] of samples) this.#sample(name, labels, value);
  }

  /** One unlabelled gauge or counter. */
  single(name: string, type: "gauge" | "counter", help: string, value: number): void {
    this.family(name, type, help, [[{}, value]]);
  }

  /** A histogram from per-bucket counts, rendered cumulatively as Prometheus requires. */
  histogram(name: string, help: string, histogram: Histogram): void {
    this.#header(name, "histogram", help);
    let cumulative = 0;
    histogram.buckets.forEach((bound, i) => {
      cumulative += histogram.counts[i] ?? 0;
      this.#sample(`${name}_bucket`, { le: String(bound) }, cumulative);
    });
    cumulative += histogram.counts[histogram.buckets.length] ?? 0;
    this.#sample(`${name}_bucket`, { le: "+Inf" }, cumulative);
    this.#sample(`${name}_sum`, {}, histogram.sum);
    this.#sample(`${name}_count`, {}, histogram.count);
  }

  render(): string {
    return this.#lines.map((line) => `${line}\n`).join("");
  }

  #header(name: string, type: string, help: string): void {
    const escapedHelp = help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
    this.#lines.push(`# HELP ${PREFIX}${name} ${escapedHelp}`, `# TYPE ${PREFIX}${name} ${type}`);
  }

  #sample(name: string, labels: Labels, value: number): void {
    this.#lines.push(`${PREFIX}${name}${formatLabels(labels)} ${value}`);
  }
}

/** Samples of a by-key counter map, keys sorted so that output is stable. */
function byKey(label: string, counts: Readonly<Record<string, number>>): Sample[] {
  return Object.entries(counts)
    .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    .map(([key, count]) => [{ [label]: key }, count]);
}

const seconds = (ms: number) => ms / 1000;

/**
 * Renders `/metrics`.
 *
 * @param snapshot the proxy's latest snapshot; before the first one, only the
 *   build, uptime and worker metrics are rendered
 * @param workers each worker's state, as the supervisor last reported it
 * @param now current time in milliseconds since the epoch
 * @param identity version and start time used until a snapshot tells them
 */
export function renderMetrics(
  snapshot: BridgeSnapshot | undefined,
  workers: Readonly<Record<string, WorkerState>>,
  now: number,
  identity: BridgeIdentity,
): string {
  const out = new Exposition();
  const { version, started_at } = snapshot ?? identity;
  out.family("build_info", "gauge", "Version of the running bridge; always 1.", [[{ version }, 1]]);
  out.single(
    "uptime_seconds",
    "gauge",
    "Seconds since the bridge started.",
    seconds(now - Date.parse(started_at)),
  );
  out.family(
    "worker_up",
    "gauge",
    "1 when the worker is running, 0 while it starts, restarts or is stopped.",
    Object.keys(workers).sort().map((name) => [
      { worker: name },
      workers[name] === "running" ? 1 : 0,
    ]),
  );
  if (snapshot === undefined) return out.render();

  out.single(
    "snapshot_age_seconds",
    "gauge",
    "Seconds since the proxy took the status these metrics show.",
    seconds(now - Date.parse(snapshot.taken_at)),
  );
  out.family(
    "broker_connected",
    "gauge",
    "1 when the bridge is connected to the broker.",
    (["internal", "central"] as const).map((broker) => [
      { broker },
      snapshot.brokers[broker] ? 1 : 0,
    ]),
  );
  const { counters } = snapshot;
  out.family(
    "readings_received_total",
    "counter",
    "Raw messages received from the internal broker, by uplink topic.",
    byKey("topic", counters.received),
  );
  out.family(
    "readings_published_total",
    "counter",
    "Readings published on the central broker, by level.",
    byKey("level", counters.published),
  );
  out.single(
    "meters_announced_total",
    "counter",
    "Meter announcements delivered to the central broker.",
    counters.announced,
  );
  out.family(
    "messages_rejected_total",
    "counter",
    "Messages rejected as invalid, by reason.",
    byKey("reason", counters.rejected),
  );
  out.family(
    "readings_dropped_total",
    "counter",
    "Valid readings not published, by reason.",
    byKey("reason", counters.dropped),
  );
  out.single(
    "readings_incomplete_total",
    "counter",
    "Split readings whose parts did not all arrive in time.",
    counters.incomplete,
  );
  out.single(
    "register_resets_total",
    "counter",
    "Energy register resets accepted (a cleared counter, a replacement meter).",
    counters.register_resets,
  );
  out.histogram(
    "command_ack_latency_seconds",
    "Seconds from sending a meter command to its acknowledgement.",
    snapshot.ack_latency,
  );
  out.single(
    "outbox_depth",
    "gauge",
    "Publications waiting for the central broker.",
    snapshot.outbox.depth,
  );
  out.single(
    "outbox_bytes",
    "gauge",
    "Bytes waiting for the central broker.",
    snapshot.outbox.bytes,
  );
  out.single(
    "outbox_dropped_total",
    "counter",
    "Publications dropped because the outbox was full or they were too old.",
    snapshot.outbox.dropped,
  );
  out.single(
    "outbox_problem",
    "gauge",
    "1 while a problem found with the outbox at start awaits acknowledgement.",
    snapshot.outbox.problem === null ? 0 : 1,
  );

  const meters = [...snapshot.meters].sort((a, b) => a.id.localeCompare(b.id));
  out.single("meters", "gauge", "Meters the bridge knows.", snapshot.meter_counts.known);
  out.single("meters_online", "gauge", "Meters online now.", snapshot.meter_counts.online);
  // Per-meter series exist for the listed meters only (limits.max_listed_meters), so a large
  // fleet does not become hundreds of thousands of series per scrape.
  out.family(
    "meter_online",
    "gauge",
    "1 when the meter is online.",
    meters.map((m) => [{ meter: m.id }, m.availability === "online" ? 1 : 0]),
  );
  out.family(
    "meter_last_seen_timestamp_seconds",
    "gauge",
    "Unix time of the meter's last valid reading.",
    meters.flatMap((m): Sample[] =>
      m.last_seen === null ? [] : [[{ meter: m.id }, seconds(Date.parse(m.last_seen))]]
    ),
  );
  out.family(
    "meter_readings_total",
    "counter",
    "Readings of the meter published since the bridge started.",
    meters.map((m) => [{ meter: m.id }, m.readings]),
  );
  return out.render();
}
