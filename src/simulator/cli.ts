/**
 * `deno task simulate`: simulated KPM33B meters on the internal broker, from
 * a few for trying the bridge without hardware to 100,000 for load tests.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { isMeterId, type MeterId } from "../protocol/meter_id.ts";
import { isTimeZone } from "../protocol/meter_time.ts";
import { explainSimulatorConnectError } from "./connect_failure.ts";
import { CONNECT_TIMEOUT_MS } from "./meter_connection.ts";
import type { SimulatorState } from "./meter_memory.ts";
import { fleetClientId, SimulatedFleet } from "./simulated_fleet.ts";
import {
  defaultStatePath,
  readSimulatorState,
  SimulatorStateError,
  writeSimulatorState,
} from "./state_file.ts";

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
  --state FILE         where the meters keep their energy registers, upload intervals, output
                       DO1 and clock across restarts, like a real meter's memory (default
                       state/simulator-<first id>.json; must be inside state/); none: keep nothing
`;

/** How often the meters' memory is saved while running (and once more at exit). */
const SAVE_INTERVAL_MS = 10_000;

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
    state: { type: "string" },
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
const [firstId] = ids;
if (
  !isMeterId(values["first-id"]) || !isTimeZone(values.timezone) || firstId === undefined ||
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

function exitWith(error: unknown): never {
  if (!(error instanceof SimulatorStateError)) throw error;
  console.error(error.message);
  Deno.exit(74);
}

const statePath = values.state === "none" ? undefined : values.state ?? defaultStatePath(firstId);
const stored: SimulatorState = statePath === undefined
  ? { version: 1, meters: {} }
  : await readSimulatorState(statePath).catch(exitWith);
const memories = Object.fromEntries(
  ids.flatMap((id) => {
    const memory = stored.meters[id];
    if (memory === undefined) return [];
    // An explicit --clock-year sets the clocks anew, as if their battery had run flat.
    return [[id, values["clock-year"] ? { ...memory, clock_offset_ms: clockOffsetMs } : memory]];
  }),
);
/** Writes the meters' memory, keeping entries of meters not simulated this time. */
const save = (fleet: SimulatedFleet) =>
  statePath === undefined ? Promise.resolve() : writeSimulatorState(statePath, {
    version: 1,
    meters: { ...stored.meters, ...fleet.memories() },
  });
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
  memories,
}).catch((error) => {
  const { message, exitCode } = explainSimulatorConnectError({
    url: values.broker,
    username: values.username,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
  }, error);
  console.error(message);
  Deno.exit(exitCode);
});
// From now on a stop saves the meters' memory first.
const stopped = new Promise<void>((resolve) => {
  Deno.addSignalListener("SIGINT", resolve);
  Deno.addSignalListener("SIGTERM", resolve);
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
// Finds out now, not at the first periodic save, whether the file can be written.
await save(fleet).catch(async (error) => {
  await fleet.stop();
  exitWith(error);
});
const restored = Object.keys(memories).length;
console.log(
  statePath === undefined
    ? "meter registers start afresh and are not kept (--state none)"
    : `meter registers, intervals, outputs and clocks kept in ${statePath}` +
      (restored > 0 ? ` (${restored} of ${ids.length} meters continue from it)` : ""),
);

let lastSaveError = "";
let saving: Promise<void> = Promise.resolve();
const saver = setInterval(() => {
  saving = saving.then(() => save(fleet)).then(
    () => {
      if (lastSaveError !== "") console.log(`state file ${statePath} written again`);
      lastSaveError = "";
    },
    (error: Error) => {
      // Repeats every few seconds: the same failure is printed once.
      if (error.message !== lastSaveError) console.error(error.message);
      lastSaveError = error.message;
    },
  );
}, SAVE_INTERVAL_MS);

const report = setInterval(() => {
  if (ids.length <= 10) return;
  console.log(
    `${fleet.appearedAt.size} meters reported, ${fleet.configuredAt.size} configured, ` +
      `${fleet.published} readings sent, ${fleet.commands} commands answered`,
  );
}, 10_000);

await stopped;
clearInterval(report);
clearInterval(saver);
await fleet.stop();
await saving;
await save(fleet).catch(exitWith);
