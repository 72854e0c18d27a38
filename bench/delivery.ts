/**
 * Delivery benchmark: what the bridge costs compared with Mosquitto alone.
 *
 *   deno task bench      (the micro benchmarks, then this script), or only this:
 *   deno task bench:delivery [--messages 20000] [--meters 100] [--runs 3] \
 *     [--latency-seconds 10] [--check] [--save [--conditions "what else ran"]]
 *
 * Every broker is a real Mosquitto with deep queues, the bridge is the real
 * subprocess (`deno task start`) with its workers, and the meter and the
 * consumer are MQTT clients in this process. Each run measures, in turn:
 *
 * 1. the ceiling: publisher → one Mosquitto → subscriber, QoS 0 and QoS 1;
 * 2. end to end: publisher → internal Mosquitto (`MQTT_RT_DATA`) → bridge →
 *    central Mosquitto (`kpm33b/<id>/seconds`) → consumer, QoS 0 and QoS 1,
 *    as readings/s from the first publish to the last arrival, and as a share
 *    of the ceiling at the same QoS; QoS 1 also through Mosquitto's C bridge
 *    (bench/c_bridge.ts) between two fresh brokers;
 * 3. latency at 500 and 1000 readings/s (QoS 1), publish to arrival, p50 and
 *    p99, end to end and on the direct path (the baseline); at 500/s also
 *    through the C bridge;
 * 4. the bridge process's memory: VmRSS after 5 s idle, and VmHWM (peak)
 *    after readings from 10,000 meters (MB = 2^20 bytes);
 * 5. QoS 1 end to end with the durable outbox on and off (skipped while the
 *    configuration schema has no `outbox.enabled`);
 * 6. QoS 1 end to end with the bridge's embedded meters' broker (aedes, which
 *    acknowledges a reading to the meter once the proxy stored it) instead of
 *    the internal Mosquitto, compared with (2).
 *
 * Arrivals are counted by the reading's `id` + `time` in the payload, once
 * each. Runs alternate the order of the measurements (a C bridge measurement
 * runs next to the bridge's). The table at the end gives medians, every run's
 * figure and the targets; a run in which not all readings arrived (no
 * progress for 10 s) or that failed is marked `*` and explained below the
 * table. Then the figures are compared with the accepted ones in
 * bench/figures.json (bench/figures.ts): `--check` exits with 1 when one got
 * worse than its tolerance, `--save` stores this run's as the accepted ones.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Config } from "../src/config/schema.ts";
import { type BridgeProcess, startBridge } from "../tests/helpers/bridge.ts";
import { startMosquitto } from "../tests/helpers/mosquitto.ts";
import { freePort } from "../tests/helpers/ports.ts";
import { latency, type Sample, throughput } from "./measures.ts";
import { C_BRIDGE_TOPIC, withCBridge } from "./c_bridge.ts";
import {
  compare,
  comparisonRows,
  type Definition,
  loadFigures,
  machineChange,
  saveFigures,
  thisMachine,
} from "./figures.ts";
import {
  DEEP_QUEUES,
  median as medianOf,
  memoryMb,
  online,
  printTable,
  type Qos,
  readings,
  sleep,
  stopBridge,
} from "./support.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    messages: { type: "string", default: "20000" },
    meters: { type: "string", default: "100" },
    runs: { type: "string", default: "3" },
    "latency-seconds": { type: "string", default: "10" },
    check: { type: "boolean", default: false },
    save: { type: "boolean", default: false },
    conditions: { type: "string" },
  },
});

function positive(name: "messages" | "meters" | "runs" | "latency-seconds"): number {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`--${name} must be a positive integer`);
  }
  return value;
}

const MESSAGES = positive("messages");
const METERS = positive("meters");
const RUNS = positive("runs");
const LATENCY_SECONDS = positive("latency-seconds");
const RATES = [500, 1000];
const MEMORY_METERS = 10_000;
const IDLE_MS = 5000;
const RAW_TOPIC = "MQTT_RT_DATA";
const CLEAN_FILTER = "kpm33b/+/seconds";

/** Whether the bridge's schema (the source the subprocess runs) accepts this `outbox` section. */
const accepts = (outbox: Record<string, unknown>) => Config.safeParse({ outbox }).success;
const OUTBOX_SWITCH = accepts({ enabled: true });
const OUTBOX_DRAIN_RATE = accepts({ drain_rate_per_second: 0 });

/**
 * The bridge's `outbox` section: unlimited drain rate where the key exists, so
 * throughput measures the bridge rather than a throttle; `enabled` as given.
 */
function outboxSection(enabled?: boolean): string {
  const outbox = {
    ...(enabled === undefined ? {} : { enabled }),
    ...(OUTBOX_DRAIN_RATE ? { drain_rate_per_second: 0 } : {}),
  };
  return Object.keys(outbox).length > 0 ? `outbox: ${JSON.stringify(outbox)}\n` : "";
}

function bridgeConfig(internal: string, central: string, outbox: string, embedded = false) {
  // A day of tolerated drift keeps the bridge from setting the clocks of meters whose
  // readings are dated up to a few hours back. Any number of meters is new at once (--meters).
  return `internal_broker: { url: "${internal}", embedded: { enabled: ${embedded} } }
central_broker: { url: "${central}", embedded: { enabled: false } }
meters: { timezone: UTC, time_sync: { max_drift_seconds: 86400 }, admission: { new_per_minute: 0 } }
logging: { level: warning, format: json, stats_interval_seconds: 0 }
${outbox}`;
}

async function withBroker<T>(measure: (url: string) => Promise<T>): Promise<T> {
  await using broker = await startMosquitto(DEEP_QUEUES);
  return await measure(broker.url);
}

interface BridgeSetup {
  readonly internal: string;
  readonly central: string;
  readonly bridge: BridgeProcess;
}

/** Two Mosquittos and the bridge between them, online; all stopped afterwards. */
async function withBridge<T>(outbox: string, measure: (setup: BridgeSetup) => Promise<T>) {
  await using internal = await startMosquitto(DEEP_QUEUES);
  await using central = await startMosquitto(DEEP_QUEUES);
  const bridge = await startBridge(bridgeConfig(internal.url, central.url, outbox));
  try {
    await online(central.url, bridge);
    return await measure({ internal: internal.url, central: central.url, bridge });
  } finally {
    await stopBridge(bridge);
  }
}

/** The bridge with its embedded meters' broker and a Mosquitto as central, online; stopped afterwards. */
async function withEmbeddedBroker<T>(measure: (setup: BridgeSetup) => Promise<T>) {
  await using central = await startMosquitto(DEEP_QUEUES);
  const internal = `mqtt://127.0.0.1:${freePort()}`;
  const bridge = await startBridge(bridgeConfig(internal, central.url, outboxSection(), true));
  try {
    await online(central.url, bridge);
    return await measure({ internal, central: central.url, bridge });
  } finally {
    await stopBridge(bridge);
  }
}

const throughputBatch = readings(MESSAGES, METERS, 60_000);
const memoryBatch = readings(2 * MEMORY_METERS, MEMORY_METERS, 60_000);

/** One measurement of a run: the figures it yields, in order. */
interface Step {
  readonly figures: readonly string[];
  measure(): Promise<Sample[]>;
}

const direct = (qos: Qos) => (url: string) => throughput(url, url, RAW_TOPIC, throughputBatch, qos);
const endToEnd = (qos: Qos) => ({ internal, central }: BridgeSetup) =>
  throughput(internal, central, CLEAN_FILTER, throughputBatch, qos);
const C_BRIDGE_RATE = 500;

const steps: Step[] = [
  { figures: ["ceiling0"], measure: async () => [await withBroker(direct(0))] },
  { figures: ["ceiling1"], measure: async () => [await withBroker(direct(1))] },
  { figures: ["e2e0"], measure: async () => [await withBridge(outboxSection(), endToEnd(0))] },
  { figures: ["e2e1"], measure: async () => [await withBridge(outboxSection(), endToEnd(1))] },
  {
    figures: ["cbridge1"],
    measure: async () => [
      await withCBridge(({ internal, central }) =>
        throughput(internal, central, C_BRIDGE_TOPIC, throughputBatch, 1)
      ),
    ],
  },
  { figures: ["embedded1"], measure: async () => [await withEmbeddedBroker(endToEnd(1))] },
  ...RATES.flatMap((rate): Step[] => [
    {
      figures: [`direct${rate}.p50`, `direct${rate}.p99`],
      measure: () =>
        withBroker((url) => latency(url, url, RAW_TOPIC, rate, METERS, LATENCY_SECONDS)),
    },
    {
      figures: [`e2e${rate}.p50`, `e2e${rate}.p99`],
      measure: () =>
        withBridge(
          outboxSection(),
          ({ internal, central }) =>
            latency(internal, central, CLEAN_FILTER, rate, METERS, LATENCY_SECONDS),
        ),
    },
    ...(rate === C_BRIDGE_RATE
      ? [{
        figures: [`cbridge${rate}.p50`, `cbridge${rate}.p99`],
        measure: () =>
          withCBridge(({ internal, central }) =>
            latency(internal, central, C_BRIDGE_TOPIC, rate, METERS, LATENCY_SECONDS)
          ),
      }]
      : []),
  ]),
  {
    figures: ["idle", "peak"],
    measure: () =>
      withBridge(outboxSection(), async ({ internal, central, bridge }) => {
        const pid = bridge.bridgePid();
        if (pid === undefined) throw new Error("the bridge process was not found");
        await sleep(IDLE_MS);
        const idle = await memoryMb(pid, "rssKb");
        const run = await throughput(internal, central, CLEAN_FILTER, memoryBatch, 1);
        return [{ value: idle }, { value: await memoryMb(pid, "hwmKb"), note: run.note }];
      }),
  },
  ...(OUTBOX_SWITCH ? [true, false] : []).map((enabled): Step => ({
    figures: [enabled ? "outboxOn" : "outboxOff"],
    measure: async () => [await withBridge(outboxSection(enabled), endToEnd(1))],
  })),
];

const UNITS: Record<string, string> = { idle: "MB", peak: "MB" };
const unit = (figure: string) => UNITS[figure] ?? (figure.includes(".p") ? "ms" : "readings/s");
const format = (value: number, figure: string) =>
  Number.isNaN(value) ? "-" : value.toFixed({ "ms": 2, "MB": 1 }[unit(figure)] ?? 0);

const samples = new Map<string, Sample[]>();
console.log(
  `${MESSAGES} readings from ${METERS} meters; latency ${LATENCY_SECONDS} s per rate; ` +
    `memory with ${MEMORY_METERS} meters; runs: ${RUNS}; ${navigator.hardwareConcurrency} CPUs`,
);
const outboxPlan = OUTBOX_SWITCH
  ? "compared on/off"
  : "skipped, the config schema has no outbox.enabled yet";
const drainPlan = OUTBOX_DRAIN_RATE ? "0 (unlimited)" : "omitted, no such key yet";
console.log(`outbox: ${outboxPlan}; drain_rate_per_second: ${drainPlan}`);
for (let run = 0; run < RUNS; run++) {
  // Alternating the order spreads drift of the machine's load over all measurements alike.
  for (const step of run % 2 === 0 ? steps : [...steps].reverse()) {
    let results: Sample[];
    try {
      results = await step.measure();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      results = step.figures.map(() => ({ value: NaN, note: `failed: ${message}` }));
    }
    step.figures.forEach((figure, i) => {
      const result = results[i] ?? { value: NaN, note: "not measured" };
      samples.set(figure, [...samples.get(figure) ?? [], result]);
      console.log(
        `run ${run + 1}/${RUNS} ${figure}: ${format(result.value, figure)} ${unit(figure)}${
          result.note ? ` (${result.note})` : ""
        }`,
      );
    });
  }
}

function median(figure: string): number {
  return medianOf((samples.get(figure) ?? []).map((s) => s.value));
}

const notes: string[] = [];
function runs(figure: string): string {
  return (samples.get(figure) ?? []).map((s, run) => {
    if (s.note === undefined) return format(s.value, figure);
    notes.push(`* ${figure}, run ${run + 1}: ${s.note}`);
    return `${format(s.value, figure)}*`;
  }).join(", ");
}

/** Whether `value` meets its target; NaN when no run yielded the figure. */
const verdict = (value: number, met: boolean) =>
  Number.isNaN(value) ? "no data" : met ? "ok" : "MISSED";
const percent = (ratio: number) => Number.isNaN(ratio) ? "-" : `${(ratio * 100).toFixed(0)} %`;

type Row = [label: string, median: string, compared: string, target: string, runs: string];

function row(label: string, figure: string, compared = "", target = ""): Row {
  return [
    label,
    `${format(median(figure), figure)} ${unit(figure)}`,
    compared,
    target,
    runs(figure),
  ];
}

const rows: Row[] = [
  ["figure", "median", "compared", "target", "runs"],
  row("ceiling QoS 0, one Mosquitto", "ceiling0"),
  row("ceiling QoS 1, one Mosquitto", "ceiling1"),
];
for (const qos of [0, 1]) {
  const share = median(`e2e${qos}`) / median(`ceiling${qos}`);
  rows.push(row(
    `end to end QoS ${qos}`,
    `e2e${qos}`,
    `${percent(share)} of ceiling`,
    qos === 1 ? `>= 50 % of ceiling: ${verdict(share, share >= 0.5)}` : "",
  ));
}
rows.push(row(
  "end to end QoS 1, embedded meters' broker",
  "embedded1",
  `${percent(median("embedded1") / median("e2e1"))} of Mosquitto's`,
));
rows.push(row("C bridge QoS 1 (Mosquitto's)", "cbridge1"));
for (const q of ["p50", "p99"]) {
  rows.push(row(`latency ${C_BRIDGE_RATE}/s ${q} C bridge`, `cbridge${C_BRIDGE_RATE}.${q}`));
}
for (const rate of RATES) {
  for (const q of ["p50", "p99"]) {
    const endToEnd = median(`e2e${rate}.${q}`);
    const added = endToEnd - median(`direct${rate}.${q}`);
    rows.push(row(
      `latency ${rate}/s ${q} end to end`,
      `e2e${rate}.${q}`,
      Number.isNaN(added) ? "" : `${added >= 0 ? "+" : ""}${added.toFixed(2)} ms over direct`,
      rate === 500 && q === "p99" ? `<= 2 ms: ${verdict(endToEnd, endToEnd <= 2)}` : "",
    ));
    rows.push(row(`latency ${rate}/s ${q} direct`, `direct${rate}.${q}`));
  }
}
rows.push(row("bridge RSS, idle 5 s", "idle"));
rows.push(row(
  `bridge peak RSS, ${MEMORY_METERS} meters`,
  "peak",
  "",
  `<= 150 MB: ${verdict(median("peak"), median("peak") <= 150)}`,
));
if (OUTBOX_SWITCH) {
  const cost = 1 - median("outboxOn") / median("outboxOff");
  rows.push(row(
    "end to end QoS 1, outbox on",
    "outboxOn",
    `costs ${percent(cost)}`,
    `cost <= 20 %: ${verdict(cost, cost <= 0.2)}`,
  ));
  rows.push(row("end to end QoS 1, outbox off", "outboxOff"));
} else {
  rows.push([
    "outbox on vs off",
    "skipped",
    "no outbox.enabled in src/config/schema.ts",
    "cost <= 20 %",
    "",
  ]);
}

console.log(`\nmedians of ${RUNS} runs (MB = 2^20 bytes; * = see the notes below)`);
printTable(rows);
for (const note of notes) console.log(note);

const bridgeVsC = (bridge: string, c: string) => median(bridge) / median(c);
const pair = (label: string, bridge: string, c: string) => [
  label,
  `${format(median(bridge), bridge)} ${unit(bridge)}`,
  `${format(median(c), c)} ${unit(c)}`,
  Number.isNaN(bridgeVsC(bridge, c)) ? "-" : bridgeVsC(bridge, c).toFixed(2),
];
console.log("\nagainst Mosquitto's C bridge (medians; throughput: higher is better, p99: lower)");
printTable([
  ["figure", "bridge", "C bridge", "bridge / C bridge"],
  pair("throughput, QoS 1 burst", "e2e1", "cbridge1"),
  pair(`latency ${C_BRIDGE_RATE}/s p50`, `e2e${C_BRIDGE_RATE}.p50`, `cbridge${C_BRIDGE_RATE}.p50`),
  pair(`latency ${C_BRIDGE_RATE}/s p99`, `e2e${C_BRIDGE_RATE}.p99`, `cbridge${C_BRIDGE_RATE}.p99`),
]);

const figure = (
  label: string,
  unit: string,
  worse_when: Definition["worse_when"],
  tolerance_percent: number,
): Definition => ({ label, unit, worse_when, tolerance_percent });
const P99 = `p99 at ${C_BRIDGE_RATE}/s`;
/** The figures kept in bench/figures.json, with the default tolerances of new ones. */
const DEFINITIONS: Record<string, Definition> = {
  throughput_ratio: figure("QoS 1 burst throughput, bridge / C bridge", "", "lower", 15),
  p99_ratio: figure(`${P99}, bridge / C bridge`, "", "higher", 50),
  ceiling_share: figure("QoS 1 end to end / ceiling", "", "lower", 15),
  p99_ms: figure(`${P99}, bridge`, "ms", "higher", 50),
  idle_rss_mb: figure("RSS idle", "MB", "higher", 15),
  peak_rss_mb: figure(`peak RSS, ${MEMORY_METERS} meters`, "MB", "higher", 15),
};
const current: Record<string, number> = {
  throughput_ratio: bridgeVsC("e2e1", "cbridge1"),
  p99_ratio: bridgeVsC(`e2e${C_BRIDGE_RATE}.p99`, `cbridge${C_BRIDGE_RATE}.p99`),
  ceiling_share: median("e2e1") / median("ceiling1"),
  p99_ms: median(`e2e${C_BRIDGE_RATE}.p99`),
  idle_rss_mb: median("idle"),
  peak_rss_mb: median("peak"),
};

const stored = await loadFigures();
const comparisons = compare(DEFINITIONS, current, stored);
console.log(
  stored === undefined
    ? "\nno stored figures yet (bench/figures.json): run with --save to keep these"
    : `\nagainst the figures stored on ${stored.date}${
      stored.conditions ? ` (${stored.conditions})` : ""
    }`,
);
printTable(comparisonRows(comparisons));
const machine = await thisMachine();
const moved = stored && machineChange(stored, machine);
if (moved) console.log(moved);
const flagged = comparisons.filter((c) => c.flagged);
if (flagged.length > 0) {
  console.log(
    `flagged (worse beyond tolerance, or no data): ${flagged.map((c) => c.label).join("; ")}`,
  );
}
if (values.save) {
  const runCount = `${RUNS} run${RUNS === 1 ? "" : "s"}`;
  const conditions = [
    `${runCount}, ${MESSAGES} readings from ${METERS} meters, latency ${LATENCY_SECONDS} s`,
    ...(values.conditions ? [values.conditions] : []),
  ].join("; ");
  await saveFigures(DEFINITIONS, current, stored, conditions);
  console.log("saved as the accepted figures: bench/figures.json");
}
if (values.check && flagged.length > 0) Deno.exit(1);
