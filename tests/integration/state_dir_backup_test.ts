/**
 * The backup and restore procedure of docs/operations.md, with the real
 * bridge (subprocess) between two real Mosquitto brokers. Central refuses the
 * bridge while readings pile up in its outbox; the bridge is stopped and its
 * `state_dir` backed up as the guide says (`sqlite3 .backup` of the outbox,
 * its record and the configuration flow's state copied beside it):
 *
 * - restored to a new `state_dir` (a new machine), the bridge starts without
 *   complaint and delivers every reading that was pending;
 * - an older outbox put back without its record, under the record of a later
 *   run, is reported as rolled back, naming the readings the backup lacks.
 */
import assert from "node:assert/strict";
import type { OutboxProblem } from "../../src/outbox/outbox_problem.ts";
import { type BridgeProcess, complaints, outboxEntries, startBridge } from "../helpers/bridge.ts";
import { type Account, GatedMosquitto } from "../helpers/gated_mosquitto.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import {
  CentralConsumer,
  energyReplay,
  meterId,
  Publisher,
  type Replay,
} from "../helpers/replay.ts";
import { waitUntil } from "../helpers/wait.ts";

const CONSUMER: Account = { username: "consumer", password: "consumer-secret" };
const BRIDGE: Account = { username: "bridge", password: "bridge-secret" };

/** 20 meters × 10 minutes: 200 readings and 20 announcements wait in the outbox. */
const FIRST = { meters: 20, perMeter: 10 };
const FIRST_PENDING = FIRST.meters * FIRST.perMeter + FIRST.meters;
/** Later: 30 new meters' first readings, each with its announcement. */
const LATER_METERS = 30;
const LATER_PENDING = 2 * LATER_METERS;

interface Setup extends AsyncDisposable {
  readonly dir: string;
  readonly internal: Awaited<ReturnType<typeof startMosquitto>>;
  readonly central: GatedMosquitto;
  readonly consumer: CentralConsumer;
  /** The configuration with `state_dir` set to `stateDir`. */
  yaml(stateDir: string): string;
}

async function setUp(expected: Replay): Promise<Setup> {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-backup-" });
  const internal = await startMosquitto("max_queued_messages 100000");
  // Central admits the consumer only: the bridge's readings pile up in its outbox.
  const central = await GatedMosquitto.start([CONSUMER]);
  const consumer = await CentralConsumer.connect(central.url, {
    account: CONSUMER,
    expected: expected.expected,
  });
  return {
    dir,
    internal,
    central,
    consumer,
    yaml: (stateDir) =>
      `internal_broker: { url: "${internal.url}", embedded: { enabled: false } }
central_broker: { url: "${central.url}", embedded: { enabled: false }, username: ${BRIDGE.username}, password: ${BRIDGE.password} }
meters: { timezone: UTC, time_sync: { max_drift_seconds: 86400 } }
logging: { level: info, format: json, stats_interval_seconds: 1 }
outbox: { drain_rate_per_second: 0 }
state_dir: ${stateDir}
`,
    async [Symbol.asyncDispose]() {
      await consumer.close();
      await central.stop();
      await internal.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Runs the bridge on `stateDir` while central refuses it, publishes
 * `payloads` until the outbox holds `entries`, and stops it with SIGTERM.
 */
async function pileUp(
  setup: Setup,
  stateDir: string,
  payloads: readonly string[],
  entries: number,
): Promise<void> {
  await using bridge = await startBridge(setup.yaml(stateDir));
  await bridge.waitForLog(
    (l) => String(l.message).startsWith("Subscribed to"),
    "the subscription on the internal broker",
    30_000,
  );
  {
    await using publisher = await Publisher.connect(setup.internal.url);
    await publisher.publishAll("MQTT_ENY_NOW", payloads);
  }
  assert.ok(
    await waitUntil(() => outboxEntries(bridge) === entries, 30_000),
    `the outbox holds ${outboxEntries(bridge)}, not ${entries}\n${complaints(bridge)}`,
  );
  const { code } = await bridge.stop("SIGTERM");
  assert.equal(code, 0, complaints(bridge));
}

/** Runs `sqlite3` (the Debian package of that name) and fails on a non-zero exit. */
async function sqlite3(...args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command("sqlite3", { args, stderr: "piped" }).output();
  assert.equal(code, 0, `sqlite3 ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
}

/** The backup of docs/operations.md, of a stopped bridge's `state_dir` into `backup`. */
async function backUp(stateDir: string, backup: string): Promise<void> {
  await Deno.mkdir(backup, { recursive: true });
  await sqlite3(`${stateDir}/outbox.sqlite`, `.backup '${backup}/outbox.sqlite'`);
  for (const file of ["outbox.sqlite.json", "config-sender.json"]) {
    await Deno.copyFile(`${stateDir}/${file}`, `${backup}/${file}`);
  }
}

/** Waits until central received every reading of `replay`. */
async function assertDelivered(setup: Setup, bridge: BridgeProcess, replay: Replay) {
  assert.ok(
    await waitUntil(() => setup.consumer.ledger.missing(replay.readings).length === 0, 30_000),
    `${setup.consumer.ledger.missing(replay.readings).length} of ${replay.readings.length} ` +
      `pending readings did not reach central\n${complaints(bridge)}`,
  );
  assert.deepEqual(setup.consumer.ledger.payloadErrors, []);
}

Deno.test("backup of a stopped bridge's state_dir restored to a new state_dir: every pending reading is delivered, no problem reported", async () => {
  const replay = energyReplay(FIRST);
  await using setup = await setUp(replay);
  const live = `${setup.dir}/live`;
  await pileUp(setup, live, replay.readings.map((r) => r.payload), FIRST_PENDING);

  await backUp(live, `${setup.dir}/backup`);
  // The machine is lost; the backup is restored elsewhere.
  await Deno.remove(live, { recursive: true });
  const restored = `${setup.dir}/restored`;
  await Deno.mkdir(restored);
  for await (const entry of Deno.readDir(`${setup.dir}/backup`)) {
    await Deno.copyFile(`${setup.dir}/backup/${entry.name}`, `${restored}/${entry.name}`);
  }

  await setup.central.admit([CONSUMER, BRIDGE]);
  await using bridge = await startBridge(setup.yaml(restored));
  await assertDelivered(setup, bridge, replay);
  assert.deepEqual(
    bridge.logLines().filter((l) => l.outbox_problem !== undefined).map((l) => l.message),
    [],
    "a restored state_dir is found as its record describes it",
  );
  const { code } = await bridge.stop("SIGTERM");
  assert.equal(code, 0, complaints(bridge));
});

Deno.test("an older outbox put back without its record: reported as rolled back with the readings the backup lacks, and what it holds is delivered", async () => {
  const replay = energyReplay(FIRST);
  await using setup = await setUp(replay);
  const live = `${setup.dir}/live`;
  await pileUp(setup, live, replay.readings.map((r) => r.payload), FIRST_PENDING);
  const backup = `${setup.dir}/backup`;
  await backUp(live, backup);

  // The bridge runs on: more readings pile up after the backup.
  const later = energyReplay({ meters: LATER_METERS, perMeter: 1 }).readings.map((r, i) =>
    JSON.stringify({ ...JSON.parse(r.payload), id: meterId(100 + i) })
  );
  await pileUp(setup, live, later, FIRST_PENDING + LATER_PENDING);

  // Only the outbox is put back from the backup; the record of the later run stays.
  for (const suffix of ["-wal", "-shm"]) {
    await Deno.remove(`${live}/outbox.sqlite${suffix}`).catch(() => {});
  }
  await Deno.copyFile(`${backup}/outbox.sqlite`, `${live}/outbox.sqlite`);

  await setup.central.admit([CONSUMER, BRIDGE]);
  await using bridge = await startBridge(setup.yaml(live));
  const error = await bridge.waitForLog(
    (l) => l.level === "ERROR" && l.outbox_problem !== undefined,
    "the outbox problem to be logged",
    30_000,
  );
  const problem = error.outbox_problem as OutboxProblem;
  assert.equal(problem.kind, "rolled_back", String(error.message));
  assert.equal(problem.missing_sequence_numbers, LATER_PENDING);
  assert.equal(problem.found_readings, FIRST_PENDING);
  assert.equal(problem.expected_readings, FIRST_PENDING + LATER_PENDING);
  await assertDelivered(setup, bridge, replay);
  const { code } = await bridge.stop("SIGTERM");
  assert.equal(code, 0, complaints(bridge));
});
