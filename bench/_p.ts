import { Config } from "../src/config/schema.ts";
import { MeterClock } from "../src/protocol/meter_time.ts";
import { ReadingPipeline } from "../src/proxy/pipeline.ts";
import { parseJsonObject } from "../src/protocol/decode.ts";
const config = Config.parse({ meters: { timezone: "Europe/Vienna" } });
const sample = JSON.parse(Deno.readTextFileSync("tests/fixtures/MQTT_RT_DATA.json"));
const enc = new TextEncoder();
const messages = Array.from(
  { length: 600 },
  (_, i) =>
    enc.encode(
      JSON.stringify({
        ...sample,
        id: `33B12259${String(50000 + (i % 50))}`,
        time: `2026011216${String(Math.floor(i / 50)).padStart(2, "0")}00`,
      }),
    ),
);
const p = new ReadingPipeline({
  root: "kpm33b",
  retainReadings: false,
  meters: config.meters,
  limits: config.limits,
  clock: new MeterClock("Europe/Vienna"),
});
const N = 1_000_000;
let published = 0;
for (let r = 0; r < 3; r++) {
  const t = performance.now();
  for (let i = 0; i < N; i++) {
    const ev = p.handle("MQTT_RT_DATA", messages[i % 600], i);
    if (ev[ev.length - 1].type === "publish") published++;
  }
  const dt = performance.now() - t;
  console.log(
    "full",
    (dt * 1000 / N).toFixed(2),
    "us/msg",
    Math.round(N / dt * 1000),
    "msg/s",
    published,
  );
}
const t = performance.now();
for (let i = 0; i < N; i++) parseJsonObject(messages[i % 600], 65536);
console.log("parse", ((performance.now() - t) * 1000 / N).toFixed(2));
