/**
 * What the end-to-end benchmarks share: real MQTT clients that publish raw
 * readings with a bounded window in flight and count arrivals, waits that
 * give up when nothing moves, and the bridge's start, `online` and stop.
 *
 * @module
 */
import mqtt, { type MqttClient } from "mqtt";
import { MeterClock } from "../src/protocol/meter_time.ts";
import type { BridgeProcess } from "../tests/helpers/bridge.ts";
import { memoryOf } from "../tests/helpers/proc.ts";

/** Unacknowledged QoS 1 publishes (unwritten QoS 0 ones) a sender keeps in flight. */
export const IN_FLIGHT = 1000;
/** A run with no publish acknowledged and no reading arriving for this long has stalled. */
export const STALL_MS = 10_000;
const ONLINE_TIMEOUT_MS = 60_000;
/**
 * The bridge's shutdown budget is 4.5 s; a bridge still running after this is
 * hung. Killed before the helper kills its task runner, so the runner reaps it.
 */
const STOP_MS = 8000;
/** The default queue of 1000 messages would drop readings of a consumer that falls behind. */
export const DEEP_QUEUES = "max_queued_messages 1000000";

/** QoS of a benchmark's publishes and subscriptions. */
export type Qos = 0 | 1;

const sample = JSON.parse(
  await Deno.readTextFile(new URL("../tests/fixtures/MQTT_RT_DATA.json", import.meta.url)),
);
const clock = new MeterClock("UTC");

/** A raw reading and the `id` + `time` that identify it on both sides of the bridge. */
export interface Reading {
  readonly id: string;
  readonly payload: string;
  readonly key: string;
}

/** The id of meter `n` of a benchmark: `33B` and ten digits. */
export function meterId(n: number): string {
  return `33B${String(n).padStart(10, "0")}`;
}

/**
 * Raw `MQTT_RT_DATA` reading i of `count`: from meter `i % meters`, a meter's
 * readings `stepMs` apart and ending `endsAt`, so no filter of the bridge
 * drops one.
 */
export function readingAt(
  i: number,
  count: number,
  meters: number,
  stepMs: number,
  endsAt: number,
): Reading {
  const start = endsAt - Math.ceil(count / meters) * stepMs;
  const id = meterId(i % meters);
  const time = clock.meterTimeAt(start + Math.floor(i / meters) * stepMs);
  return { id, payload: JSON.stringify({ ...sample, id, time }), key: `${id} ${time}` };
}

/**
 * The `id` + `time` of a reading's payload, raw or as the bridge republishes
 * it; undefined for a payload that is not a reading.
 */
export function keyOf(payload: Uint8Array | string): string | undefined {
  try {
    const { id, time } = JSON.parse(payload.toString());
    return id === undefined || time === undefined ? undefined : `${id} ${time}`;
  } catch {
    // Not JSON, so not a reading: the caller does not count it.
    return undefined;
  }
}

/** Readings 0 … count - 1 of {@link readingAt}. */
export function readings(
  count: number,
  meters: number,
  stepMs: number,
  endsAt = Date.now(),
): Reading[] {
  return Array.from({ length: count }, (_, i) => readingAt(i, count, meters, stepMs, endsAt));
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether `promise` resolves within `ms`. */
export async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => timer = setTimeout(resolve, ms, false));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits for `done` as long as `progress()` keeps moving; false once it stood still for STALL_MS. */
export async function settle(done: Promise<unknown>, progress: () => number): Promise<boolean> {
  let seen = -1;
  while (progress() !== seen) {
    seen = progress();
    if (await within(done, STALL_MS)) return true;
  }
  return false;
}

/** A connected MQTT client, ended (forcibly) when disposed. */
export async function client(url: string): Promise<MqttClient & AsyncDisposable> {
  const connected = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000 });
  return Object.assign(connected, {
    [Symbol.asyncDispose]: async () => {
      await connected.endAsync(true);
    },
  });
}

/** Counts arrivals; `reach(n)` resolves once n have arrived. */
export class Arrivals {
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

/** Publishes raw readings on `topic` with at most IN_FLIGHT of them in flight. */
export class Sender {
  /** Publishes acknowledged (QoS 1) or written (QoS 0), or failed. */
  done = 0;
  failed = 0;
  #inFlight = 0;
  #wake: (() => void) | undefined;
  #stopped = false;

  constructor(readonly client: MqttClient, readonly qos: Qos, readonly topic = "MQTT_RT_DATA") {}

  /**
   * Publishes `batch` as fast as the window allows, or paced at `rate` per
   * second; `onSend` runs just before each publish. Resolves when all are done.
   */
  sendAll(batch: readonly Reading[], onSend?: (r: Reading) => void, rate?: number) {
    return this.sendEach(batch.length, (i) => {
      // sendEach counts i from 0 to below batch.length.
      const reading = batch[i]!;
      onSend?.(reading);
      return reading.payload;
    }, rate);
  }

  /**
   * Publishes `count` payloads made one at a time by `payloadOf` (for batches
   * too large to hold), as fast as the window allows or paced at `rate`.
   */
  async sendEach(count: number, payloadOf: (i: number) => string, rate?: number) {
    const began = performance.now();
    for (let i = 0; i < count && !this.#stopped;) {
      const due = rate === undefined
        ? count
        : Math.min(count, Math.floor((performance.now() - began) * rate / 1000) + 1);
      for (; i < due && !this.#stopped; i++) {
        while (this.#inFlight >= IN_FLIGHT && !this.#stopped) await this.#next();
        this.#publish(payloadOf(i));
      }
      if (i < count) await sleep(1);
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
    this.client.publish(this.topic, payload, { qos: this.qos }, (error) => {
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

/** Why not all readings arrived, or undefined when they did. */
export function shortfall(
  arrivals: Arrivals,
  expected: number,
  sender: Sender,
): string | undefined {
  if (arrivals.count >= expected) return undefined;
  return `${arrivals.count} of ${expected} readings arrived, ${sender.done} publishes done ` +
    `(${sender.failed} failed); no progress for ${STALL_MS / 1000} s`;
}

/** Stops the bridge with SIGTERM, and kills it if it has not exited within STOP_MS. */
export async function stopBridge(bridge: BridgeProcess): Promise<void> {
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

/** Waits for the retained `online` on `topic`: from then on the bridge loses no reading. */
export async function online(
  central: string,
  bridge: BridgeProcess,
  topic = "kpm33b/bridge/state",
): Promise<void> {
  await using state = await client(central);
  const seen = Promise.withResolvers<void>();
  state.on("message", (_topic, payload) => {
    if (payload.toString() === "online") seen.resolve();
  });
  await state.subscribeAsync(topic, { qos: 1 });
  if (!await within(seen.promise, ONLINE_TIMEOUT_MS)) {
    throw new Error(`bridge not online within ${ONLINE_TIMEOUT_MS / 1000} s:\n${bridge.output()}`);
  }
}

/** A process's memory in MB (2^20 bytes): now (VmRSS) or its peak (VmHWM). */
export async function memoryMb(pid: number, field: "rssKb" | "hwmKb"): Promise<number> {
  const memory = await memoryOf(pid);
  if (memory === undefined) throw new Error(`process ${pid} is gone`);
  return memory[field] / 1024;
}

/** The median of the numbers that are not NaN. */
export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = sorted.length / 2;
  const upper = sorted[Math.floor(middle)] ?? NaN;
  return Number.isInteger(middle) ? ((sorted[middle - 1] ?? NaN) + upper) / 2 : upper;
}

/** Prints rows as a table with aligned columns. */
export function printTable(rows: readonly (readonly string[])[]): void {
  const [header] = rows;
  if (header === undefined) return;
  const widths = header.map((_, column) => Math.max(...rows.map((r) => r[column]?.length ?? 0)));
  for (const r of rows) {
    console.log(r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ").trimEnd());
  }
}
