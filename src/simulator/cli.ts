/**
 * `deno task simulate`: one or many simulated KPM33B meters on the internal
 * broker, for trying the bridge without hardware.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { isMeterId, type MeterId } from "../protocol/meter_id.ts";
import { isTimeZone } from "../protocol/meter_time.ts";
import { SimulatedMeter } from "./simulated_meter.ts";

const USAGE = `Usage: deno task simulate [options]

  --broker URL         internal broker (default mqtt://127.0.0.1:11883)
  --username NAME      --password SECRET   meter credentials, if the broker needs them
  --meters N           number of meters (default 3), consecutive ids from --first-id
  --first-id ID        13-character meter id (default 33B1225950027)
  --timezone ZONE      zone of the meter clocks (default UTC)
  --clock-year YEAR    start the meter clocks in this year, like factory-fresh meters (e.g. 2005)
  --time-scale X       publish X times faster than the upload intervals say (default 1)
  --duplicates         send every reading twice, as real meters do
  --zero-bursts        precede every reading with an all-zero copy
  --drop-acks N        leave the first N command acknowledgements of each meter unsent
`;

function nextId(id: string, n: number): MeterId {
  const digits = id.match(/(\d+)$/)?.[1] ?? "";
  const next = String(Number(digits) + n).padStart(digits.length, "0");
  return `${id.slice(0, id.length - digits.length)}${next}` as MeterId;
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    broker: { type: "string", default: "mqtt://127.0.0.1:11883" },
    username: { type: "string" },
    password: { type: "string" },
    meters: { type: "string", default: "3" },
    "first-id": { type: "string", default: "33B1225950027" },
    timezone: { type: "string", default: "UTC" },
    "clock-year": { type: "string" },
    "time-scale": { type: "string", default: "1" },
    duplicates: { type: "boolean", default: false },
    "zero-bursts": { type: "boolean", default: false },
    "drop-acks": { type: "string", default: "0" },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const count = Number(values.meters);
if (!isMeterId(values["first-id"]) || !isTimeZone(values.timezone) || !(count >= 1)) {
  console.error(`invalid --first-id, --timezone or --meters\n\n${USAGE}`);
  Deno.exit(64);
}
const clockOffsetMs = values["clock-year"]
  ? Date.UTC(Number(values["clock-year"]), 0, 18, 21, 15) - Date.now()
  : 0;

const starting = Promise.all(Array.from({ length: count }, (_, i) =>
  SimulatedMeter.start({
    url: values.broker,
    id: nextId(values["first-id"], i),
    username: values.username,
    password: values.password,
    timeZone: values.timezone,
    clockOffsetMs,
    timeScale: Number(values["time-scale"]),
    duplicates: values.duplicates,
    zeroBursts: values["zero-bursts"],
    dropAcks: Number(values["drop-acks"]),
  })));
const meters = await starting.catch((error) => {
  console.error(
    `cannot connect to ${values.broker}: ${error.message}\n` +
      "Is the internal broker running? (README, Quick start)",
  );
  Deno.exit(69);
});
for (const meter of meters) {
  console.log(`meter ${meter.options.id} publishing to ${values.broker}`);
  await meter.publishInstant();
  await meter.publishEnergy();
}

await new Promise<void>((resolve) => {
  Deno.addSignalListener("SIGINT", resolve);
  Deno.addSignalListener("SIGTERM", resolve);
});
await Promise.all(meters.map((meter) => meter.stop()));
