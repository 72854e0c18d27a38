/**
 * One transaction of the durable outbox as the proxy writes it: the batch's
 * readings appended, the previous batch's delivered entries removed and each
 * meter's filter state written, on a real SQLite file. Payloads and meter
 * states come from the real pipeline on the `MQTT_RT_DATA` sample. Figures
 * are per transaction; divide by the batch size for a reading.
 */
import { Config } from "../src/config/schema.ts";
import type { MeterId } from "../src/protocol/meter_id.ts";
import { ReadingPipeline } from "../src/proxy/pipeline.ts";
import { pipelineOptions } from "../src/proxy/proxy_settings.ts";
import type { Publication } from "../src/outbox/outbox_store.ts";
import { SqliteOutboxStore } from "../src/outbox/sqlite_outbox_store.ts";

const config = Config.parse({ meters: { timezone: "Europe/Vienna" } });
const sample = JSON.parse(
  await Deno.readTextFile(new URL("../tests/fixtures/MQTT_RT_DATA.json", import.meta.url)),
);
const encoder = new TextEncoder();
const pipeline = new ReadingPipeline(pipelineOptions(config));

/** A reading's publication and its meter's state after a few readings, as the proxy stores them. */
function meterReading(index: number): { id: MeterId; publication: Publication; state: string } {
  const id = `33B1${String(index).padStart(9, "0")}` as MeterId;
  let publication: Publication | undefined;
  for (let minute = 0; minute < 5; minute++) {
    const message = encoder.encode(JSON.stringify({
      ...sample,
      id,
      time: `2026011210${String(minute).padStart(2, "0")}00`,
    }));
    for (const event of pipeline.handle("MQTT_RT_DATA", message, minute * 60_000)) {
      if (event.type === "publish") {
        publication = { topic: event.topic, payload: event.payload, retain: false };
      }
    }
  }
  const state = pipeline.meterState(id);
  if (publication === undefined || state === undefined) throw new Error(`no reading for ${id}`);
  return { id, publication, state };
}

function writer(meters: number, batch: number): () => void {
  const dir = Deno.makeTempDirSync({ prefix: "kpm33b-bench-outbox-" });
  const store = new SqliteOutboxStore(`${dir}/outbox.sqlite`);
  const readings = Array.from({ length: Math.min(meters, 100) }, (_, i) => meterReading(i));
  let next = 0;
  let delivered: number[] = [];
  globalThis.addEventListener("unload", () => {
    store.close();
    Deno.removeSync(dir, { recursive: true });
  });
  return () => {
    const append: Publication[] = [];
    const meterStates = new Map<string, string>();
    for (let i = 0; i < batch; i++, next++) {
      const reading = readings[next % readings.length]!;
      append.push(reading.publication);
      // Distinct ids beyond the sampled readings: the states of `meters` meters take turns.
      meterStates.set(`${reading.id}-${next % meters}`, reading.state);
    }
    const appended = store.write({ append, remove: delivered, meterStates, now: next });
    delivered = appended.map((entry) => entry.seq);
  };
}

Deno.bench(
  "outbox write: batch of 20 readings, 100 meters",
  { group: "batch", baseline: true },
  writer(100, 20),
);
Deno.bench(
  "outbox write: batch of 20 readings, 10,000 meters",
  { group: "batch" },
  writer(10_000, 20),
);
Deno.bench(
  "outbox write: one reading (a steady rate), 100 meters",
  { group: "one" },
  writer(100, 1),
);
