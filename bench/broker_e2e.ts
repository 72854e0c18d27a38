/**
 * End-to-end throughput, meter → meters' broker → bridge → central broker →
 * consumer, with the meters' broker embedded (aedes, inside the bridge) and
 * with Mosquitto. The bridge runs as a subprocess with its real workers; the
 * central broker is Mosquitto in both cases.
 *
 *   deno task bench:e2e [--messages 20000] [--runs 3]
 *
 * Reports, per broker, the median of the runs: messages per second from the
 * first publish until the last clean reading arrives on central.
 */
import mqtt from "mqtt";
import { parseArgs } from "node:util";
import { MeterClock } from "../src/protocol/meter_time.ts";
import { startBridge } from "../tests/helpers/bridge.ts";
import { startMosquitto } from "../tests/helpers/mosquitto.ts";
import { freePort } from "../tests/helpers/ports.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    messages: { type: "string", default: "20000" },
    runs: { type: "string", default: "3" },
  },
});
const MESSAGES = Number(values.messages);
const RUNS = Number(values.runs);
const METERS = 100;

const sample = JSON.parse(
  await Deno.readTextFile(new URL("../tests/fixtures/MQTT_RT_DATA.json", import.meta.url)),
);
const clock = new MeterClock("UTC");
const start = Date.now() - MESSAGES / METERS * 60_000;
// Distinct (meter, minute) readings within the last day, so no filter drops them.
const payloads = Array.from({ length: MESSAGES }, (_, i) =>
  JSON.stringify({
    ...sample,
    id: `33B1225${String(950000 + (i % METERS))}`,
    time: clock.meterTimeAt(start + Math.floor(i / METERS) * 60_000),
  }));

function config(internal: string, central: string, embedded: boolean): string {
  // Every meter is new at once: no admission limit.
  return `internal_broker: { url: "${internal}", embedded: { enabled: ${embedded} } }
central_broker: { url: "${central}" }
meters: { timezone: UTC, time_sync: { max_drift_seconds: 86400 }, admission: { new_per_minute: 0 } }
logging: { level: warning, format: json, stats_interval_seconds: 0 }
`;
}

async function run(embedded: boolean): Promise<number> {
  // Deep queues: the benchmark consumer must not lose messages to the default 1000-message queue.
  const central = await startMosquitto("max_queued_messages 1000000");
  const internalPort = freePort();
  const internal = embedded
    ? undefined
    : await startMosquitto("max_queued_messages 1000000", internalPort);
  const internalUrl = `mqtt://127.0.0.1:${internalPort}`;
  const bridge = await startBridge(config(internalUrl, central.url, embedded));
  const consumer = await mqtt.connectAsync(central.url, { reconnectPeriod: 0 });
  let received = 0;
  let done: () => void = () => {};
  const all = new Promise<void>((resolve) => done = resolve);
  consumer.on("message", (topic) => {
    if (topic.endsWith("/seconds") && ++received === MESSAGES) done();
  });
  await consumer.subscribeAsync("kpm33b/+/seconds", { qos: 1 });
  // Wait for the bridge to be ready to receive.
  const state = await mqtt.connectAsync(central.url, { reconnectPeriod: 0 });
  await new Promise<void>((resolve) => {
    state.on("message", (_, payload) => payload.toString() === "online" && resolve());
    state.subscribe("kpm33b/bridge/state");
  });
  await state.endAsync();
  const meter = await mqtt.connectAsync(internalUrl, { reconnectPeriod: 0 });
  const began = performance.now();
  await Promise.all(
    payloads.map((payload) => meter.publishAsync("MQTT_RT_DATA", payload, { qos: 1 })),
  );
  // A run that stalls is reported, not waited for forever.
  let seen = -1;
  while (seen !== received) {
    seen = received;
    if (await Promise.race([all.then(() => "done"), sleep(10_000)]) === "done") break;
  }
  if (received < MESSAGES) {
    console.error(`stalled: ${received} of ${MESSAGES} readings arrived\n${bridge.output()}`);
  }
  const seconds = (performance.now() - began) / 1000;
  await meter.endAsync();
  await consumer.endAsync();
  await bridge.stop();
  await internal?.stop();
  await central.stop();
  return MESSAGES / seconds;
}

function sleep(ms: number): Promise<"timeout"> {
  return new Promise((resolve) => setTimeout(() => resolve("timeout"), ms));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const results = { embedded: [] as number[], mosquitto: [] as number[] };
for (let i = 0; i < RUNS; i++) {
  // Alternate so drift of the machine's load affects both alike.
  results.embedded.push(await run(true));
  results.mosquitto.push(await run(false));
}
const embedded = median(results.embedded);
const mosquitto = median(results.mosquitto);
console.log(`${MESSAGES} readings from ${METERS} meters, QoS 1, median of ${RUNS} runs`);
console.log(
  `meters' broker embedded (aedes): ${embedded.toFixed(0)} msg/s  runs: ${
    results.embedded.map((r) => r.toFixed(0)).join(", ")
  }`,
);
console.log(
  `meters' broker Mosquitto:        ${mosquitto.toFixed(0)} msg/s  runs: ${
    results.mosquitto.map((r) => r.toFixed(0)).join(", ")
  }`,
);
console.log(`embedded / Mosquitto: ${(embedded / mosquitto).toFixed(2)}`);
