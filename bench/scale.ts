/**
 * Scale benchmark: what many meters cost one bridge, how a mass reconnect is
 * paced, and what replicas on shared subscriptions give on this machine.
 *
 *   deno task bench      (after the micro and delivery benchmarks), or only this:
 *   deno run --unstable-worker-options --allow-read --allow-write --allow-net --allow-env \
 *     --allow-run bench/scale.ts [--sizes 100,10000,100000] [--runs 3] \
 *     [--reconnect-meters 10000] [--replica-meters 10000] [--skip reconnect,replicas]
 *
 * Every broker is a real Mosquitto, every bridge the real subprocess
 * (`deno task start`), the meters MQTT clients in this process. Three parts:
 *
 * 1. **Per-reading cost by fleet size**: a data replica (`--workers proxy`,
 *    Home Assistant discovery off) between two Mosquittos. Each meter sends
 *    one reading (its announcement and state are created), then readings
 *    round-robin over all meters are timed: readings/s end to end, the
 *    bridge process's CPU time per reading (user + system, all threads, from
 *    /proc) and its peak RSS (VmHWM). Medians of `--runs`.
 * 2. **Mass reconnect**: a simulated fleet whose every meter appears within
 *    10 s, against the whole bridge (proxy, config sender, discovery on, the
 *    default rate limits), meters acknowledging at once: time until all are
 *    announced, discovered and configured, and the peak message rates on
 *    both brokers.
 * 3. **Replicas**: 1 and 3 data replicas on one Mosquitto with a shared
 *    subscription (Mosquitto routes round robin): throughput, and CPU per
 *    process. Round robin breaks per-meter order; the readings that reach
 *    central out of time order per meter are counted.
 *
 * @module
 */
import type { MqttClient } from "mqtt";
import { parseArgs } from "node:util";
import type { MeterId } from "../src/protocol/meter_id.ts";
import { SimulatedFleet } from "../src/simulator/simulated_fleet.ts";
import { type BridgeProcess, startBridge, TASK_START } from "../tests/helpers/bridge.ts";
import { startMosquitto } from "../tests/helpers/mosquitto.ts";
import { cpuSecondsOf } from "../tests/helpers/proc.ts";
import {
  Arrivals,
  client,
  DEEP_QUEUES,
  median,
  memoryMb,
  meterId,
  online,
  printTable,
  readingAt,
  Sender,
  settle,
  sleep,
  STALL_MS,
  stopBridge,
} from "./support.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    sizes: { type: "string", default: "100,10000,100000" },
    runs: { type: "string", default: "3" },
    "reconnect-meters": { type: "string", default: "10000" },
    "replica-meters": { type: "string", default: "10000" },
    skip: { type: "string", default: "" },
  },
});

const SIZES = values.sizes.split(",").map(Number);
const RUNS = Number(values.runs);
const RECONNECT_METERS = Number(values["reconnect-meters"]);
const REPLICA_METERS = Number(values["replica-meters"]);
const SKIP = new Set(values.skip.split(",").filter(Boolean));
if (
  ![...SIZES, RUNS, RECONNECT_METERS, REPLICA_METERS].every((n) => Number.isInteger(n) && n > 0)
) {
  throw new Error(
    "--sizes, --runs, --reconnect-meters and --replica-meters take positive integers",
  );
}

/** Timed readings per run: enough for each meter to send two, and at least 20,000. */
const timedReadings = (meters: number) => Math.max(20_000, 2 * meters);
const STEP_MS = 60_000;
const APPEAR_WITHIN_MS = 10_000;
/** The mass reconnect gives up after this long. */
const RECONNECT_LIMIT_MS = 20 * 60_000;

function bridgeConfig(internal: string, central: string, extra = ""): string {
  // A day of tolerated drift: benchmark readings are dated up to hours back. The whole fleet is
  // new at once, as for a bridge installed at an existing fleet: no admission limit.
  return `internal_broker: { url: "${internal}", embedded: { enabled: false } }
central_broker: { url: "${central}", embedded: { enabled: false } }
meters: { timezone: UTC, time_sync: { max_drift_seconds: 86400 }, admission: { new_per_minute: 0 } }
outbox: { drain_rate_per_second: 0 }
logging: { level: warning, format: json, stats_interval_seconds: 0 }
${extra}`;
}

const withWorkers = (workers: string) => ({
  ...TASK_START,
  args: [...TASK_START.args, "--workers", workers],
});

async function cpu(pid: number | undefined): Promise<number> {
  const seconds = pid === undefined ? undefined : await cpuSecondsOf(pid);
  if (seconds === undefined) throw new Error(`process ${pid} is gone`);
  return seconds;
}

function bridgePid(bridge: BridgeProcess): number {
  const pid = bridge.bridgePid();
  if (pid === undefined) throw new Error("the bridge process was not found");
  return pid;
}

/** Counts messages on a filter at a broker. */
async function counter(url: string, filters: string[]) {
  const consumer = await client(url);
  const arrivals = new Arrivals();
  consumer.on("message", () => arrivals.arrived());
  await consumer.subscribeAsync(filters, { qos: 1 });
  return { consumer, arrivals };
}

/**
 * Publishes one reading per meter (announcing each), then `timed` readings
 * over all meters; returns readings/s and CPU seconds of `pids` over the
 * timed part, or a note when not everything arrived.
 */
async function warmAndTime(
  internal: string,
  central: string,
  meters: number,
  timed: number,
  pids: readonly number[],
) {
  const { consumer, arrivals } = await counter(central, ["kpm33b/+/seconds"]);
  await using meter = await client(internal);
  await using _consumer = consumer;
  const sender = new Sender(meter, 1);
  try {
    const timedStart = Date.now() - Math.ceil(timed / meters) * STEP_MS;
    const warm = await settle(
      Promise.all([
        sender.sendEach(meters, (i) => readingAt(i, meters, meters, STEP_MS, timedStart).payload),
        arrivals.reach(meters),
      ]),
      () => sender.done + arrivals.count,
    );
    if (!warm) return { note: `warm-up: ${arrivals.count} of ${meters} readings arrived` };
    const cpuBefore = await Promise.all(pids.map(cpu));
    const ownBefore = await cpu(Deno.pid);
    const began = performance.now();
    const done = await settle(
      Promise.all([
        sender.sendEach(timed, (i) => readingAt(i, timed, meters, STEP_MS, Date.now()).payload),
        arrivals.reach(meters + timed),
      ]),
      () => sender.done + arrivals.count,
    );
    const seconds = (arrivals.last - began) / 1000;
    const cpuAfter = await Promise.all(pids.map(cpu));
    return {
      rate: (arrivals.count - meters) / seconds,
      cpu: cpuAfter.map((after, i) => after - (cpuBefore[i] ?? NaN)),
      ownCpu: await cpu(Deno.pid) - ownBefore,
      seconds,
      note: done
        ? undefined
        : `${arrivals.count - meters} of ${timed} readings arrived; no progress for ${
          STALL_MS / 1000
        } s`,
    };
  } finally {
    sender.stop();
  }
}

// ---------------------------------------------------------------- 1. fleet size

interface ScaleRun {
  readonly rate: number;
  readonly cpuUsPerReading: number;
  readonly peakMb: number;
  /** RSS 5 s after the last reading. */
  readonly afterMb: number;
  readonly note?: string;
}

/** How long the bridge idles before its RSS after the run is read. */
const SETTLE_MS = 5000;

async function scaleRun(meters: number): Promise<ScaleRun> {
  await using internal = await startMosquitto(DEEP_QUEUES);
  await using central = await startMosquitto(DEEP_QUEUES);
  const bridge = await startBridge(
    bridgeConfig(internal.url, central.url, "homeassistant: { enabled: false }\n"),
    {},
    withWorkers("proxy"),
  );
  try {
    await online(central.url, bridge);
    const pid = bridgePid(bridge);
    const timed = timedReadings(meters);
    const result = await warmAndTime(internal.url, central.url, meters, timed, [pid]);
    if (result.rate === undefined) {
      return { rate: NaN, cpuUsPerReading: NaN, peakMb: NaN, afterMb: NaN, ...result };
    }
    await sleep(SETTLE_MS);
    return {
      rate: result.rate,
      cpuUsPerReading: (result.cpu[0] ?? NaN) / timed * 1e6,
      peakMb: await memoryMb(pid, "hwmKb"),
      afterMb: await memoryMb(pid, "rssKb"),
      note: result.note,
    };
  } finally {
    await stopBridge(bridge);
  }
}

// ---------------------------------------------------------------- 2. mass reconnect

/** Messages per whole second since `start`, by category. */
class RateLog {
  readonly #seconds = new Map<number, Map<string, number>>();
  constructor(readonly start: number) {}

  count(category: string, now = performance.now()): void {
    const second = Math.floor((now - this.start) / 1000);
    const counts = this.#seconds.get(second) ?? new Map<string, number>();
    counts.set(category, (counts.get(category) ?? 0) + 1);
    this.#seconds.set(second, counts);
  }

  /** The busiest second: its total and what it was made of. */
  peak(): { total: number; second: number; parts: string } {
    let best = { total: 0, second: 0, parts: "" };
    for (const [second, counts] of this.#seconds) {
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      if (total <= best.total) continue;
      const parts = [...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(", ");
      best = { total, second, parts };
    }
    return best;
  }
}

/** A command to one meter: `MQTT_<command>_<last 8 of its id>`. */
const COMMAND = /^MQTT_(COMMOD_SET|COMMOD_READ|SETTIME|TELECTRL)_[0-9A-Z]{8}$/;

function category(topic: string): string {
  if (topic.startsWith("homeassistant/")) return "discovery";
  if (topic.startsWith("kpm33b/discovery/")) return "announcements";
  if (topic.startsWith("kpm33b/bridge/")) return "bridge";
  return topic.slice(topic.lastIndexOf("/") + 1);
}

async function massReconnect(meters: number) {
  await using internal = await startMosquitto(DEEP_QUEUES);
  await using central = await startMosquitto(DEEP_QUEUES);
  const bridge = await startBridge(bridgeConfig(internal.url, central.url));
  let fleet: SimulatedFleet | undefined;
  let watcher: MqttClient | undefined;
  let meterSide: MqttClient | undefined;
  try {
    await online(central.url, bridge);
    const pid = bridgePid(bridge);
    const start = performance.now();
    const startEpoch = Date.now();
    const centralRates = new RateLog(start);
    const internalRates = new RateLog(start);
    const announced = new Map<string, number>();
    const discovered = new Map<string, number>();
    watcher = await client(central.url);
    watcher.on("message", (topic) => {
      const now = performance.now();
      centralRates.count(category(topic), now);
      if (topic.startsWith("kpm33b/discovery/")) announced.set(topic, now);
      if (topic.startsWith("homeassistant/")) discovered.set(topic, now);
    });
    await watcher.subscribeAsync(["kpm33b/#", "homeassistant/#"], { qos: 0 });
    // Everything the meters' broker carries: readings, commands, replies.
    meterSide = await client(internal.url);
    meterSide.on("message", (topic) => {
      internalRates.count(
        COMMAND.test(topic) ? "commands" : topic.endsWith("_REP") ? "replies" : "readings",
      );
    });
    await meterSide.subscribeAsync("#", { qos: 0 });
    const cpuBefore = await cpu(pid);
    const ids = Array.from({ length: meters }, (_, i) => meterId(500_000 + i) as MeterId);
    fleet = await SimulatedFleet.start({
      url: internal.url,
      ids,
      timeZone: "UTC",
      metersPerConnection: 1000,
      appearWithinMs: APPEAR_WITHIN_MS,
      clientIdPrefix: "reconnect",
    });
    const running = fleet;
    const deadline = start + RECONNECT_LIMIT_MS;
    while (
      (announced.size < meters || discovered.size < 2 * meters ||
        running.configuredAt.size < meters) && performance.now() < deadline
    ) {
      await sleep(250);
    }
    const last = (times: Iterable<number>) => Math.max(...times) - start;
    const lastEpoch = (times: Iterable<number>) => Math.max(...times) - startEpoch;
    const toSeconds = (ms: number) => (ms / 1000).toFixed(1);
    return {
      meters,
      appeared: toSeconds(lastEpoch(running.appearedAt.values())),
      announced: announced.size < meters ? "-" : toSeconds(last(announced.values())),
      discovered: discovered.size < 2 * meters ? "-" : toSeconds(last(discovered.values())),
      configured: running.configuredAt.size < meters
        ? `${running.configuredAt.size} of ${meters} by the limit`
        : toSeconds(lastEpoch(running.configuredAt.values())),
      centralPeak: centralRates.peak(),
      internalPeak: internalRates.peak(),
      cpuSeconds: await cpu(pid) - cpuBefore,
      peakMb: await memoryMb(pid, "hwmKb"),
    };
  } finally {
    await fleet?.stop();
    await watcher?.endAsync(true);
    await meterSide?.endAsync(true);
    await stopBridge(bridge);
  }
}

// ---------------------------------------------------------------- 3. replicas

async function replicaRun(replicas: number, meters: number) {
  await using internal = await startMosquitto(DEEP_QUEUES);
  await using central = await startMosquitto(DEEP_QUEUES);
  const bridges: BridgeProcess[] = [];
  try {
    for (let r = 1; r <= replicas; r++) {
      bridges.push(
        await startBridge(
          bridgeConfig(
            internal.url,
            central.url,
            `homeassistant: { enabled: false }\ncluster: { share_group: bench, replica: r${r} }\n`,
          ),
          {},
          withWorkers("proxy"),
        ),
      );
    }
    for (const [r, bridge] of bridges.entries()) {
      await online(central.url, bridge, `kpm33b/bridge/replicas/r${r + 1}/state`);
    }
    // Order per meter on central: readings of one meter arriving older than the last seen.
    const order = await client(central.url);
    const latest = new Map<string, string>();
    let outOfOrder = 0;
    order.on("message", (_topic, payload) => {
      const { id, time } = JSON.parse(payload.toString());
      const previous = latest.get(id);
      if (previous !== undefined && time < previous) outOfOrder++;
      else latest.set(id, time);
    });
    await order.subscribeAsync("kpm33b/+/seconds", { qos: 1 });
    const pids = [...bridges.map(bridgePid), internal.pid, central.pid];
    const timed = 5 * meters;
    try {
      const result = await warmAndTime(internal.url, central.url, meters, timed, pids);
      return { ...result, outOfOrder, timed };
    } finally {
      await order.endAsync(true);
    }
  } finally {
    await Promise.all(bridges.map(stopBridge));
  }
}

// ---------------------------------------------------------------- run and report

const fmt = (n: number, digits = 0) =>
  Number.isNaN(n) ? "-" : n.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });

console.log(
  `scale benchmark: sizes ${SIZES.join(", ")}, ${RUNS} runs each; ` +
    `${navigator.hardwareConcurrency} CPUs; MB = 2^20 bytes`,
);
const notes: string[] = [];
const scale = new Map<number, ScaleRun[]>();
for (let run = 0; run < RUNS; run++) {
  // Alternating the order spreads drift of the machine's load over all sizes alike.
  for (const meters of run % 2 === 0 ? SIZES : [...SIZES].reverse()) {
    let result: ScaleRun;
    try {
      result = await scaleRun(meters);
    } catch (error) {
      result = {
        rate: NaN,
        cpuUsPerReading: NaN,
        peakMb: NaN,
        afterMb: NaN,
        note: `failed: ${error}`,
      };
    }
    scale.set(meters, [...scale.get(meters) ?? [], result]);
    if (result.note) notes.push(`* ${meters} meters, run ${run + 1}: ${result.note}`);
    console.log(
      `run ${run + 1}/${RUNS} ${meters} meters: ${fmt(result.rate)} readings/s, ` +
        `${fmt(result.cpuUsPerReading, 1)} µs CPU/reading, peak RSS ${fmt(result.peakMb, 1)} MB, ` +
        `${fmt(result.afterMb, 1)} MB ${SETTLE_MS / 1000} s after` +
        (result.note ? ` (${result.note})` : ""),
    );
  }
}

const medianOf = (meters: number, key: keyof Omit<ScaleRun, "note">) =>
  median((scale.get(meters) ?? []).map((r) => r[key]));
const smallest = Math.min(...SIZES);
const rows = [[
  "meters",
  "readings/s",
  "CPU µs/reading",
  "vs smallest",
  "peak RSS MB",
  "RSS after MB",
  "runs (readings/s; µs)",
]];
for (const meters of SIZES) {
  const cost = medianOf(meters, "cpuUsPerReading");
  const ratio = cost / medianOf(smallest, "cpuUsPerReading") - 1;
  rows.push([
    fmt(meters),
    fmt(medianOf(meters, "rate")),
    fmt(cost, 1),
    meters === smallest ? "" : `${ratio >= 0 ? "+" : ""}${(ratio * 100).toFixed(0)} %`,
    fmt(medianOf(meters, "peakMb"), 1),
    fmt(medianOf(meters, "afterMb"), 1),
    (scale.get(meters) ?? []).map((r) => `${fmt(r.rate)}; ${fmt(r.cpuUsPerReading, 1)}`).join(
      " | ",
    ),
  ]);
}
console.log(
  `\nPer-reading cost by fleet size (data replica --workers proxy, discovery off; medians of ${RUNS} runs)`,
);
printTable(rows);
const largest = Math.max(...SIZES);
const growth = medianOf(largest, "cpuUsPerReading") / medianOf(smallest, "cpuUsPerReading") - 1;
// Flat means it does not grow with the fleet; a large fleet costing less per reading (fuller
// outbox batches) meets the target too.
console.log(
  `CPU per reading at ${fmt(largest)} vs ${fmt(smallest)} meters: ${growth >= 0 ? "+" : ""}${
    (growth * 100).toFixed(0)
  } % (target: at most +15 %: ${growth <= 0.15 ? "ok" : "MISSED"})`,
);

if (!SKIP.has("reconnect")) {
  console.log(
    `\nMass reconnect: ${fmt(RECONNECT_METERS)} meters appear within ${
      APPEAR_WITHIN_MS / 1000
    } s (whole bridge, default rates: discovery 200 msg/s, commands 100/s, 20 in flight)`,
  );
  try {
    const r = await massReconnect(RECONNECT_METERS);
    printTable([
      ["figure", "value"],
      ["last meter's first reading after", `${r.appeared} s`],
      ["all announced after", `${r.announced} s`],
      ["all discovered (2 configs each) after", `${r.discovered} s`],
      ["all configured (intervals + clock acknowledged) after", `${r.configured} s`],
      [
        "central broker, busiest second",
        `${fmt(r.centralPeak.total)} msg/s (${r.centralPeak.parts})`,
      ],
      [
        "meters' broker, busiest second",
        `${fmt(r.internalPeak.total)} msg/s (${r.internalPeak.parts})`,
      ],
      ["bridge CPU over the scenario", `${fmt(r.cpuSeconds, 1)} s`],
      ["bridge peak RSS", `${fmt(r.peakMb, 1)} MB`],
    ]);
  } catch (error) {
    console.log(`mass reconnect failed: ${error}`);
  }
}

if (!SKIP.has("replicas")) {
  console.log(
    `\nReplicas on one Mosquitto, shared subscription (round robin): ${
      fmt(REPLICA_METERS)
    } meters, ${fmt(5 * REPLICA_METERS)} readings; medians of ${RUNS} runs; CPU % of one core`,
  );
  const rows = [[
    "replicas",
    "readings/s",
    "CPU per replica",
    "Mosquitto int / central",
    "bench process",
    "out of order",
  ]];
  for (const replicas of [1, 3]) {
    const runs = [];
    for (let run = 0; run < RUNS; run++) {
      try {
        runs.push(await replicaRun(replicas, REPLICA_METERS));
      } catch (error) {
        notes.push(`* ${replicas} replicas, run ${run + 1}: failed: ${error}`);
      }
    }
    for (const [i, r] of runs.entries()) {
      if (r.note) notes.push(`* ${replicas} replicas, run ${i + 1}: ${r.note}`);
    }
    const ok = runs.filter((r) => r.rate !== undefined);
    const percent = (seconds: number, duration: number) => `${fmt(seconds / duration * 100)} %`;
    const middle = ok.sort((a, b) => a.rate! - b.rate!)[Math.floor(ok.length / 2)];
    if (middle === undefined) {
      rows.push([String(replicas), "-", "-", "-", "-", "-"]);
      continue;
    }
    const cpuOf = middle.cpu!;
    rows.push([
      String(replicas),
      `${fmt(median(ok.map((r) => r.rate!)))} (${ok.map((r) => fmt(r.rate!)).join(", ")})`,
      cpuOf.slice(0, replicas).map((s) => percent(s, middle.seconds!)).join(", "),
      `${percent(cpuOf[replicas] ?? NaN, middle.seconds!)} / ${
        percent(cpuOf[replicas + 1] ?? NaN, middle.seconds!)
      }`,
      percent(middle.ownCpu!, middle.seconds!),
      `${fmt(median(ok.map((r) => r.outOfOrder)))} of ${fmt(middle.timed)}`,
    ]);
  }
  console.log("(CPU figures are of the median run)");
  printTable(rows);
}
for (const note of notes) console.log(note);
