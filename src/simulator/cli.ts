/**
 * `deno task simulate`: simulated KPM33B meters on the internal broker, from
 * a few for trying the bridge without hardware to 100,000 for load tests.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { isMeterId, type MeterId } from "../protocol/meter_id.ts";
import { isTimeZone } from "../protocol/meter_time.ts";
import { fleetClientId, SimulatedFleet } from "./simulated_fleet.ts";

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
  --appear-within S    every meter's first reading within S seconds, like a mass reconnect
                       after a power cut (default 0: all at once)
  --meters-per-connection N
                       meters sharing one MQTT connection (default 1: one each, as real
                       meters; use e.g. 1000 for tens of thousands of meters)
  --client-id-prefix P MQTT client ids are P-<first meter id of the connection> (default
                       meter); several simulators on one broker need distinct meter ids
  --verbose            print each command received and how it was answered
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
    "appear-within": { type: "string", default: "0" },
    "meters-per-connection": { type: "string", default: "1" },
    "client-id-prefix": { type: "string", default: "meter" },
    verbose: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const count = Number(values.meters);
const perConnection = Number(values["meters-per-connection"]);
const appearWithin = Number(values["appear-within"]);
const dropAcks = Number(values["drop-acks"]);
const ids = Number.isInteger(count) && count >= 1
  ? Array.from({ length: count }, (_, i) => nextId(values["first-id"], i))
  : [];
if (
  !isMeterId(values["first-id"]) || !isTimeZone(values.timezone) || ids.length === 0 ||
  !ids.every(isMeterId) || !(perConnection >= 1) || !(appearWithin >= 0) || !(dropAcks >= 0)
) {
  console.error(
    `invalid --first-id, --timezone, --meters, --meters-per-connection, --appear-within or ` +
      `--drop-acks\n\n${USAGE}`,
  );
  Deno.exit(64);
}
const clockOffsetMs = values["clock-year"]
  ? Date.UTC(Number(values["clock-year"]), 0, 18, 21, 15) - Date.now()
  : 0;

const fleet = await SimulatedFleet.start({
  url: values.broker,
  username: values.username,
  password: values.password,
  ids,
  timeZone: values.timezone,
  clockOffsetMs,
  timeScale: Number(values["time-scale"]),
  duplicates: values.duplicates,
  zeroBursts: values["zero-bursts"],
  metersPerConnection: perConnection,
  appearWithinMs: appearWithin * 1000,
  dropAcks,
  clientIdPrefix: values["client-id-prefix"],
  verbose: values.verbose,
}).catch((error) => {
  console.error(
    `cannot connect to ${values.broker}: ${error.message}\n` +
      "Is the internal broker running? (README, Quick start)",
  );
  Deno.exit(69);
});
console.log(
  ids.length <= 10
    ? ids.map((id, i) =>
      `meter ${id} publishing to ${values.broker}` +
      (i % perConnection === 0
        ? ` as client ${fleetClientId(values["client-id-prefix"], id)}`
        : ` on the connection of ${ids[i - (i % perConnection)]}`)
    ).join("\n")
    : `${ids.length} meters ${ids[0]} … ${ids.at(-1)} publishing to ${values.broker}`,
);

const report = setInterval(() => {
  if (ids.length <= 10) return;
  console.log(
    `${fleet.appearedAt.size} meters reported, ${fleet.configuredAt.size} configured, ` +
      `${fleet.published} readings sent, ${fleet.commands} commands answered`,
  );
}, 10_000);

await new Promise<void>((resolve) => {
  Deno.addSignalListener("SIGINT", resolve);
  Deno.addSignalListener("SIGTERM", resolve);
});
clearInterval(report);
await fleet.stop();
