import { Config } from "./src/config/schema.ts";
import { MeterClock } from "./src/protocol/meter_time.ts";
import { ReadingPipeline } from "./src/proxy/pipeline.ts";
const config = Config.parse({
  meters: { timezone: "UTC", time_sync: { max_drift_seconds: 86400 } },
});
const sample = JSON.parse(Deno.readTextFileSync("tests/fixtures/MQTT_RT_DATA.json"));
const enc = new TextEncoder();
const METERS = Number(Deno.args[0]);
const show = (label: string) => {
  (globalThis as any).gc();
  const m = Deno.memoryUsage();
  console.log(
    label,
    "rss",
    (m.rss / 1048576).toFixed(0),
    "heapUsed",
    (m.heapUsed / 1048576).toFixed(0),
    "heapTotal",
    (m.heapTotal / 1048576).toFixed(0),
    "external",
    (m.external / 1048576).toFixed(0),
  );
};
const p = new ReadingPipeline({
  root: "kpm33b",
  retainReadings: false,
  meters: config.meters,
  limits: config.limits,
  clock: new MeterClock("UTC"),
});
show("start");
const now = Date.now();
for (let i = 0; i < 300000; i++) {
  const id = `33B${String(i % METERS).padStart(10, "0")}`;
  const minute = Math.floor(i / METERS);
  p.handle(
    "MQTT_RT_DATA",
    enc.encode(
      JSON.stringify({
        ...sample,
        id,
        time: `20261206${String(10 + Math.floor(minute / 60)).padStart(2, "0")}${
          String(minute % 60).padStart(2, "0")
        }00`,
      }),
    ),
    now,
  );
  if (i % 100000 === 99999) show(String(i + 1));
}
console.log(p.announcedMeters);
