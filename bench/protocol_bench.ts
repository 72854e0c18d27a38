/**
 * The pure protocol path (parse + validate + reassemble + filter + transform)
 * on the real `MQTT_RT_DATA` sample. Each iteration handles one message; the
 * `time` advances so the duplicate filter does not short-circuit.
 */
import { Config } from "../src/config/schema.ts";
import { MeterClock } from "../src/protocol/meter_time.ts";
import { ReadingPipeline } from "../src/proxy/pipeline.ts";
import { decodeReading } from "../src/protocol/decode.ts";
import { meterSettings } from "../src/config/meter_settings.ts";
import type { MeterId } from "../src/protocol/meter_id.ts";
import { MeterRegistry } from "../src/proxy/meter_registry.ts";

const config = Config.parse({ meters: { timezone: "Europe/Vienna" } });
const sample = JSON.parse(
  await Deno.readTextFile(new URL("../tests/fixtures/MQTT_RT_DATA.json", import.meta.url)),
);
const encoder = new TextEncoder();

// 60 distinct minute-stamped copies, cycled, each for a different meter id.
// An index modulo messages.length always names one of them (the `!` below).
const messages = Array.from({ length: 600 }, (_, i) =>
  encoder.encode(JSON.stringify({
    ...sample,
    id: `33B12259${String(50000 + (i % 50)).padStart(5, "0")}`,
    time: `202601121${String(600 + Math.floor(i / 50)).padStart(3, "0")}00`.slice(0, 14),
  })));
const raw = encoder.encode(JSON.stringify(sample));

function pipeline() {
  return new ReadingPipeline({
    root: "kpm33b",
    retainReadings: false,
    meters: config.meters,
    limits: config.limits,
    clock: new MeterClock(config.meters.timezone),
  });
}

const p = pipeline();
let i = 0;
let t = 0;
Deno.bench("full pipeline, RT sample (new reading each time)", { baseline: true }, () => {
  p.handle("MQTT_RT_DATA", messages[i++ % messages.length]!, t += 1);
});

// What the proxy adds per reading for availability and status (no I/O).
const tracked = pipeline();
const settings = new Map<MeterId, ReturnType<typeof meterSettings>>();
const registry = new MeterRegistry(config.limits.max_meters, (id) => {
  let found = settings.get(id);
  if (found === undefined) settings.set(id, found = meterSettings(config.meters, id));
  return found;
});
let j = 0;
Deno.bench("full pipeline + meter registry (availability, status)", () => {
  for (const event of tracked.handle("MQTT_RT_DATA", messages[j++ % messages.length]!, t += 1)) {
    if (event.type !== "publish") continue;
    registry.published(event.id, event.level, event.payload, event.driftSeconds, t);
    registry.seen(event.id, t);
  }
});

const dup = pipeline();
Deno.bench("full pipeline, RT sample (exact repeat, dropped)", () => {
  dup.handle("MQTT_RT_DATA", raw, t += 1);
});

Deno.bench("decode only (JSON + validation)", () => {
  decodeReading("MQTT_RT_DATA", raw, 65536);
});

const textual = encoder.encode(JSON.stringify(
  Object.fromEntries(
    Object.entries(sample).map(([k, v]) => [k, typeof v === "number" ? String(v) : v]),
  ),
));
Deno.bench("decode only, numbers as strings (schema path)", () => {
  decodeReading("MQTT_RT_DATA", textual, 65536);
});
