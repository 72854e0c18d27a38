/**
 * Delivery benchmark: what the bridge costs compared with Mosquitto alone.
 *
 *   deno task bench      (the micro benchmarks, then this script), or only this:
 *   deno run --unstable-worker-options --allow-read --allow-write --allow-net --allow-env \
 *     --allow-run bench/delivery.ts [--messages 20000] [--meters 100] [--runs 3] [--latency-seconds 10]
 *
 * Every broker is a real Mosquitto with deep queues, the bridge is the real
 * subprocess (`deno task start`) with its workers, and the meter and the
 * consumer are MQTT clients in this process. Each run measures, in turn:
 *
 * 1. the ceiling: publisher → one Mosquitto → subscriber, QoS 0 and QoS 1;
 * 2. end to end: publisher → internal Mosquitto (`MQTT_RT_DATA`) → bridge →
 *    central Mosquitto (`kpm33b/<id>/seconds`) → consumer, QoS 0 and QoS 1,
 *    as readings/s from the first publish to the last arrival, and as a share
 *    of the ceiling at the same QoS;
 * 3. latency at 500 and 1000 readings/s (QoS 1), publish to arrival, p50 and
 *    p99, end to end and on the direct path (the baseline);
 * 4. the bridge process's memory: VmRSS after 5 s idle, and VmHWM (peak)
 *    after readings from 10,000 meters (MB = 2^20 bytes);
 * 5. QoS 1 end to end with the durable outbox on and off (skipped while the
 *    configuration schema has no `outbox.enabled`).
 *
 * Runs alternate the order of the measurements. The table at the end gives
 * medians, every run's figure and the targets; a run in which not all
 * readings arrived (no progress for 10 s) or that failed is marked `*` and
 * explained below the table.
 *
 * @module
 */
import mqtt, { type MqttClient } from "mqtt";
import { parseArgs } from "node:util";
import { Config } from "../src/config/schema.ts";
import { MeterClock } from "../src/protocol/meter_time.ts";
import { type BridgeProcess, startBridge } from "../tests/helpers/bridge.ts";
import { startMosquitto } from "../tests/helpers/mosquitto.ts";
import { memoryOf } from "../tests/helpers/proc.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    messages: { type: "string", default: "20000" },
    meters: { type: "string", default: "100" },
    runs: { type: "string", default: "3" },
    "latency-seconds": { type: "string", default: "10" },
  },
});

function positive(name: keyof typeof values): number {
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
/** Unacknowledged QoS 1 publishes (unwritten QoS 0 ones) the meter client keeps in flight. */
const IN_FLIGHT = 1000;
/** A run with no publish acknowledged and no reading arriving for this long is reported as stalled. */
const STALL_MS = 10_000;
const ONLINE_TIMEOUT_MS = 30_000;
/**
 * The bridge's shutdown budget is 4.5 s; a bridge still running after this is
 * hung. Killed before the helper kills its task runner, so the runner reaps it.
 */
const STOP_MS = 8000;
/** The default queue of 1000 messages would drop readings of a consumer that falls behind. */
const DEEP_QUEUES = "max_queued_messages 1000000";
const RAW_TOPIC = "MQTT_RT_DATA";
const CLEAN_FILTER = "kpm33b/+/seconds";
const STATE_TOPIC = "kpm33b/bridge/state";

type Qos = 0 | 1;

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

function bridgeConfig(internal: string, central: string, outbox: string): string {
  // A day of tolerated drift keeps the bridge from setting the clocks of meters whose
  // readings are dated up to a few hours back.
  return `internal_broker: { url: "${internal}", embedded: { enabled: false } }
central_broker: { url: "${central}", embedded: { enabled: false } }
meters: { timezone: UTC, time_sync: { max_drift_seconds: 86400 } }
logging: { level: warning, format: json, stats_interval_seconds: 0 }
${outbox}`;
}

const sample = JSON.parse(
  await Deno.readTextFile(new URL("../tests/fixtures/MQTT_RT_DATA.json", import.meta.url)),
);
const clock = new MeterClock("UTC");

/** A raw reading and the `id` + `time` that identify it on both sides of the bridge. */
interface Reading {
  readonly payload: string;
  readonly key: string;
}

/**
 * `count` raw readings; reading i is from meter i % meters, a meter's readings
 * are `stepMs` apart and end now, so no filter of the bridge drops one.
 */
function readings(count: number, meters: number, stepMs: number): Reading[] {
  const start = Date.now() - Math.ceil(count / meters) * stepMs;
  return Array.from({ length: count }, (_, i) => {
    const id = `33B1225${String(i % meters).padStart(6, "0")}`;
    const time = clock.meterTimeAt(start + Math.floor(i / meters) * stepMs);
    return { payload: JSON.stringify({ ...sample, id, time }), key: `${id} ${time}` };
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether `promise` resolves within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => timer = setTimeout(resolve, ms, false));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits for `done` as long as `progress()` keeps moving; false once it stood still for STALL_MS. */
async function settle(done: Promise<unknown>, progress: () => number): Promise<boolean> {
  let seen = -1;
  while (progress() !== seen) {
    seen = progress();
    if (await within(done, STALL_MS)) return true;
  }
  return false;
}

async function client(url: string): Promise<MqttClient & AsyncDisposable> {
  const connected = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000 });
  return Object.assign(connected, {
    [Symbol.asyncDispose]: async () => {
      await connected.endAsync(true);
    },
  });
}

/** Counts arrivals; `reach(n)` resolves once n have arrived. */
class Arrivals {
  count = 0;
  last = 0;
  #waiting: { target: number; resolve: () => void } | undefined;

  arrived(): void {
    this.count++;
    this.last = performance.now();
    if (this.#waiting !== undefined && this.count >= this.#waiting.target) {
      this.#waiting.resolve();
      this.#waiting = undefined;
    }
  }

  reach(target: number): Promise<void> {
    if (this.count >= target) return Promise.resolve();
    return new Promise((resolve) => this.#waiting = { target, resolve });
  }
}

/** Publishes raw readings on `MQTT_RT_DATA` with at most IN_FLIGHT of them in flight. */
class Sender {
  /** Publishes acknowledged (QoS 1) or written (QoS 0), or failed. */
  done = 0;
  failed = 0;
  #inFlight = 0;
  #wake: (() => void) | undefined;
  #stopped = false;

  constructor(readonly client: MqttClient, readonly qos: Qos) {}

  /**
   * Publishes `batch` as fast as the window allows, or paced at `rate` per
   * second; `onSend` runs just before each publish. Resolves when all are done.
   */
  async sendAll(batch: readonly Reading[], onSend?: (r: Reading) => void, rate?: number) {
    const began = performance.now();
    for (let i = 0; i < batch.length && !this.#stopped;) {
      const due = rate === undefined
        ? batch.length
        : Math.min(batch.length, Math.floor((performance.now() - began) * rate / 1000) + 1);
      for (; i < due && !this.#stopped; i++) {
        while (this.#inFlight >= IN_FLIGHT && !this.#stopped) await this.#next();
        onSend?.(batch[i]);
        this.#publish(batch[i].payload);
      }
      if (i < batch.length) await sleep(1);
    }
    while (this.#inFlight > 0 && !this.#stopped) await this.#next();
  }

  /** Ends `sendAll` early (a stalled run), so it does not publish into the next measurement. */
  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }

  #publish(payload: string): void {
    this.#inFlight++;
    this.client.publish(RAW_TOPIC, payload, { qos: this.qos }, (error) => {
      this.#inFlight--;
      this.done++;
      if (error) this.failed++;
      const wake = this.#wake;
      this.#wake = undefined;
      wake?.();
    });
  }

  #next(): Promise<void> {
    return new Promise((resolve) => this.#wake = resolve);
  }
}

/** A figure of one run; `note` says why not all readings arrived (or what failed). */
interface Sample {
  readonly value: number;
  readonly note?: string;
}

function shortfall(arrivals: Arrivals, expected: number, sender: Sender): string | undefined {
  if (arrivals.count >= expected) return undefined;
  return `${arrivals.count} of ${expected} readings arrived, ${sender.done} publishes done ` +
    `(${sender.failed} failed); no progress for ${STALL_MS / 1000} s`;
}

/** Readings/s from the first publish to the last arrival on `filter` at `to`. */
async function throughput(
  from: string,
  to: string,
  filter: string,
  batch: readonly Reading[],
  qos: Qos,
): Promise<Sample> {
  await using consumer = await client(to);
  await using meter = await client(from);
  const arrivals = new Arrivals();
  consumer.on("message", () => arrivals.arrived());
  await consumer.subscribeAsync(filter, { qos });
  const sender = new Sender(meter, qos);
  try {
    const began = performance.now();
    await settle(
      Promise.all([sender.sendAll(batch), arrivals.reach(batch.length)]),
      () => sender.done + arrivals.count,
    );
    const seconds = (arrivals.last - began) / 1000;
    return {
      value: arrivals.count > 0 ? arrivals.count / seconds : 0,
      note: shortfall(arrivals, batch.length, sender),
    };
  } finally {
    sender.stop();
  }
}

/** The value at quantile `q` of sorted `values` (nearest rank). */
function quantile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

/** p50 and p99 milliseconds from publish to arrival, QoS 1, at `rate` readings/s. */
async function latency(from: string, to: string, filter: string, rate: number): Promise<Sample[]> {
  const batch = readings(METERS + rate * LATENCY_SECONDS, METERS, 1000);
  await using consumer = await client(to);
  await using meter = await client(from);
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const arrivals = new Arrivals();
  consumer.on("message", (_topic, payload) => {
    const arrived = performance.now();
    // The bridge rewrites the payload but keeps the meter's id and time.
    const { id, time } = JSON.parse(payload.toString());
    const sent = sentAt.get(`${id} ${time}`);
    if (sent !== undefined) latencies.push(arrived - sent);
    arrivals.arrived();
  });
  await consumer.subscribeAsync(filter, { qos: 1 });
  const sender = new Sender(meter, 1);
  try {
    // A meter's first reading is announced and makes the bridge configure the meter:
    // it is sent untimed, so the figures are those of steady traffic.
    const warmUp = batch.slice(0, METERS);
    const complete = await settle(
      Promise.all([sender.sendAll(warmUp), arrivals.reach(METERS)]),
      () => sender.done + arrivals.count,
    );
    const timed = batch.slice(METERS);
    if (complete) {
      await settle(
        Promise.all([
          sender.sendAll(timed, (r) => sentAt.set(r.key, performance.now()), rate),
          arrivals.reach(batch.length),
        ]),
        () => sender.done + arrivals.count,
      );
    }
    const note = shortfall(arrivals, batch.length, sender);
    const sorted = latencies.sort((a, b) => a - b);
    return [{ value: quantile(sorted, 0.5), note }, { value: quantile(sorted, 0.99), note }];
  } finally {
    sender.stop();
  }
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
    await stop(bridge);
  }
}

/** Stops the bridge with SIGTERM, and kills it if it has not exited within STOP_MS. */
async function stop(bridge: BridgeProcess): Promise<void> {
  // Looked up before stopping: once the task runner is gone, a hung bridge has no parent to find.
  const pid = bridge.bridgePid();
  const stopped = bridge.stop();
  if (!await within(stopped, STOP_MS) && pid !== undefined) {
    console.log(`bridge (pid ${pid}) still running ${STOP_MS / 1000} s after SIGTERM: killed`);
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // exited meanwhile
    }
  }
  await stopped;
}

/** Waits for the retained `online`: from then on the bridge loses no reading. */
async function online(central: string, bridge: BridgeProcess): Promise<void> {
  await using state = await client(central);
  const seen = Promise.withResolvers<void>();
  state.on("message", (_topic, payload) => {
    if (payload.toString() === "online") seen.resolve();
  });
  await state.subscribeAsync(STATE_TOPIC, { qos: 1 });
  if (!await within(seen.promise, ONLINE_TIMEOUT_MS)) {
    throw new Error(`bridge not online within ${ONLINE_TIMEOUT_MS / 1000} s:\n${bridge.output()}`);
  }
}

/** The bridge process's memory in MB (2^20 bytes): now (VmRSS) or its peak (VmHWM). */
async function memoryMb(pid: number, field: "rssKb" | "hwmKb"): Promise<number> {
  const memory = await memoryOf(pid);
  if (memory === undefined) throw new Error(`the bridge (pid ${pid}) is gone`);
  return memory[field] / 1024;
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

const steps: Step[] = [
  { figures: ["ceiling0"], measure: async () => [await withBroker(direct(0))] },
  { figures: ["ceiling1"], measure: async () => [await withBroker(direct(1))] },
  { figures: ["e2e0"], measure: async () => [await withBridge(outboxSection(), endToEnd(0))] },
  { figures: ["e2e1"], measure: async () => [await withBridge(outboxSection(), endToEnd(1))] },
  ...RATES.flatMap((rate): Step[] => [
    {
      figures: [`direct${rate}.p50`, `direct${rate}.p99`],
      measure: () => withBroker((url) => latency(url, url, RAW_TOPIC, rate)),
    },
    {
      figures: [`e2e${rate}.p50`, `e2e${rate}.p99`],
      measure: () =>
        withBridge(
          outboxSection(),
          ({ internal, central }) => latency(internal, central, CLEAN_FILTER, rate),
        ),
    },
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
      const result = results[i];
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
  const values = (samples.get(figure) ?? []).map((s) => s.value).filter((v) => !Number.isNaN(v))
    .sort((a, b) => a - b);
  const middle = values.length / 2;
  return Number.isInteger(middle)
    ? (values[middle - 1] + values[middle]) / 2
    : values[Math.floor(middle)];
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

const widths = rows[0].map((_, column) => Math.max(...rows.map((r) => r[column].length)));
console.log(
  `\nmedians of ${RUNS} runs (MB = 2^20 bytes; * = see the notes below)`,
);
for (const r of rows) console.log(r.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd());
for (const note of notes) console.log(note);
