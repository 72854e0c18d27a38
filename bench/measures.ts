/**
 * The measurements of the delivery benchmark: throughput of a burst and
 * latency at a steady rate, from a meter's connection on one broker to a
 * consumer's on another (or the same), arrivals counted by the reading's
 * `id` + `time` in the payload, once each.
 *
 * @module
 */
import {
  Arrivals,
  client,
  keyOf,
  type Qos,
  type Reading,
  readings,
  Sender,
  settle,
  shortfall,
} from "./support.ts";

/** A figure of one run; `note` says why not all readings arrived (or what failed). */
export interface Sample {
  readonly value: number;
  readonly note?: string;
}

/** Readings/s from the first publish to the last arrival on `filter` at `to`. */
export async function throughput(
  from: string,
  to: string,
  filter: string,
  batch: readonly Reading[],
  qos: Qos,
): Promise<Sample> {
  await using consumer = await client(to);
  await using meter = await client(from);
  const arrivals = new Arrivals();
  const pending = new Set(batch.map((r) => r.key));
  consumer.on("message", (_topic, payload) => {
    const key = keyOf(payload);
    if (key !== undefined && pending.delete(key)) arrivals.arrived();
  });
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
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? NaN;
}

/**
 * p50 and p99 milliseconds from publish to arrival, QoS 1, at `rate` readings/s
 * for `seconds`, after one untimed reading from each of `meters`.
 */
export async function latency(
  from: string,
  to: string,
  filter: string,
  rate: number,
  meters: number,
  seconds: number,
): Promise<Sample[]> {
  const batch = readings(meters + rate * seconds, meters, 1000);
  await using consumer = await client(to);
  await using meter = await client(from);
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const arrivals = new Arrivals();
  const pending = new Set(batch.map((r) => r.key));
  consumer.on("message", (_topic, payload) => {
    const arrived = performance.now();
    // The bridge rewrites the payload but keeps the meter's id and time.
    const key = keyOf(payload);
    if (key === undefined || !pending.delete(key)) return;
    const sent = sentAt.get(key);
    if (sent !== undefined) latencies.push(arrived - sent);
    arrivals.arrived();
  });
  await consumer.subscribeAsync(filter, { qos: 1 });
  const sender = new Sender(meter, 1);
  try {
    // A meter's first reading is announced and makes the bridge configure the meter:
    // it is sent untimed, so the figures are those of steady traffic.
    const warmUp = batch.slice(0, meters);
    const complete = await settle(
      Promise.all([sender.sendAll(warmUp), arrivals.reach(meters)]),
      () => sender.done + arrivals.count,
    );
    const timed = batch.slice(meters);
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
