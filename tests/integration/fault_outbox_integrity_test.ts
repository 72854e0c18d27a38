/**
 * The outbox lost or damaged while the bridge was stopped — a restore gone
 * wrong, a disk fault — with the real bridge (subprocess) between two real
 * Mosquitto brokers. Central refuses the bridge while readings pile up in
 * the outbox; the bridge is stopped, its outbox files are truncated, and it
 * is started again:
 *
 * - all three files truncated to 0 bytes: the bridge says at once, with the
 *   number of readings it expected, that they are gone; `/readyz` is 503 and
 *   `<root>/bridge/outbox` carries the problem until the bridge API's
 *   `outbox/acknowledge`; it bridges new readings meanwhile;
 * - `outbox.sqlite` truncated to half: the damaged file is moved aside (kept,
 *   named in the log), the proxy worker starts once instead of restarting in
 *   a loop, and the bridge bridges.
 */
import assert from "node:assert/strict";
import type { OutboxProblem } from "../../src/outbox/outbox_problem.ts";
import { ApiResponse } from "../../src/protocol/bridge_api.ts";
import { type BridgeProcess, complaints, outboxEntries, startBridge } from "../helpers/bridge.ts";
import { type Account, GatedMosquitto } from "../helpers/gated_mosquitto.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { freePort } from "../helpers/ports.ts";
import {
  CentralConsumer,
  energyReplay,
  meterId,
  Publisher,
  type Replay,
} from "../helpers/replay.ts";
import { sleep, waitUntil } from "../helpers/wait.ts";

const CONSUMER: Account = { username: "consumer", password: "consumer-secret" };
const BRIDGE: Account = { username: "bridge", password: "bridge-secret" };
/** The bridge's queue on the internal broker holds a whole replay. */
const INTERNAL = "max_queued_messages 1000000";

/** 50 meters × 60 minutes: 3,000 readings, plus the 50 meters' announcements, in the outbox. */
const PILED = { meters: 50, perMeter: 60 };
const PENDING = PILED.meters * PILED.perMeter + PILED.meters;

interface Setup {
  readonly state: string;
  readonly http: number;
  readonly internal: Awaited<ReturnType<typeof startMosquitto>>;
  readonly central: GatedMosquitto;
  readonly consumer: CentralConsumer;
  readonly yaml: string;
}

async function setUp(): Promise<Setup & AsyncDisposable> {
  const state = await Deno.makeTempDir({ prefix: "kpm33b-integrity-state-" });
  const http = freePort();
  const internal = await startMosquitto(INTERNAL);
  // Central admits the consumer only: the bridge is refused, its readings pile up in the outbox.
  const central = await GatedMosquitto.start([CONSUMER]);
  const consumer = await CentralConsumer.connect(central.url, { account: CONSUMER });
  const yaml = `internal_broker: { url: "${internal.url}", embedded: { enabled: false } }
central_broker: { url: "${central.url}", embedded: { enabled: false }, username: ${BRIDGE.username}, password: ${BRIDGE.password} }
meters: { timezone: UTC, time_sync: { max_drift_seconds: 86400 } }
logging: { level: info, format: json, stats_interval_seconds: 1 }
outbox: { drain_rate_per_second: 0 }
http: { enabled: true, host: 127.0.0.1, port: ${http} }
state_dir: ${state}
`;
  return {
    state,
    http,
    internal,
    central,
    consumer,
    yaml,
    async [Symbol.asyncDispose]() {
      await consumer.close();
      await central.stop();
      await internal.stop();
      await Deno.remove(state, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Runs the bridge while central refuses it until {@link PENDING} publications
 * wait in its outbox, then stops it, leaving them on disk: with SIGTERM
 * cleanly (everything in outbox.sqlite), with SIGKILL after its record caught
 * up (at most a second behind), the commits still in outbox.sqlite-wal.
 */
async function pileUp(setup: Setup, signal: "SIGTERM" | "SIGKILL"): Promise<Replay> {
  const replay = energyReplay(PILED);
  await using bridge = await startBridge(setup.yaml);
  await bridge.waitForLog(
    (l) => String(l.message).startsWith("Subscribed to"),
    "the subscription on the internal broker",
    30_000,
  );
  {
    await using publisher = await Publisher.connect(setup.internal.url);
    await publisher.publishAll("MQTT_ENY_NOW", replay.readings.map((r) => r.payload));
  }
  assert.ok(
    await waitUntil(() => outboxEntries(bridge) === PENDING, 40_000),
    `the outbox holds ${outboxEntries(bridge)}, not ${PENDING}\n${complaints(bridge)}`,
  );
  // The record beside the outbox follows at most once a second: it catches up before the kill.
  if (signal === "SIGKILL") await sleep(1500);
  const { code } = await bridge.stop(signal);
  if (signal === "SIGTERM") assert.equal(code, 0, complaints(bridge));
  return replay;
}

/** `/readyz`: status and body. */
async function readyz(port: number): Promise<{ status: number; body: string }> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`);
    return { status: response.status, body: await response.text() };
  } catch (error) {
    return { status: 0, body: String(error) };
  }
}

/** Waits until `/readyz` answers `status` with a body matching `body`; returns the body. */
async function expectReadyz(port: number, status: number, body: RegExp): Promise<string> {
  let last = { status: 0, body: "" };
  const ok = await waitUntil(() => {
    readyz(port).then((answer) => last = answer);
    return last.status === status && body.test(last.body);
  }, 30_000);
  assert.ok(ok, `/readyz did not answer ${status} ${body}: ${last.status} ${last.body}`);
  return last.body;
}

/** The latest `<root>/bridge/outbox` problem the consumer saw (undefined before any status). */
function lastProblem(consumer: CentralConsumer): OutboxProblem | null | undefined {
  const status = consumer.lastOutbox as { problem?: OutboxProblem | null } | undefined;
  return status?.problem;
}

/** `count` readings of meters no replay used, each a new meter's first reading. */
function newMeterReadings(count: number): { keys: string[]; payloads: string[] } {
  const base = energyReplay({ meters: count, perMeter: 1 });
  const readings = base.readings.map((r, i) => {
    const id = meterId(1000 + i);
    return { key: `${id} ${r.time}`, payload: JSON.stringify({ ...JSON.parse(r.payload), id }) };
  });
  return { keys: readings.map((r) => r.key), payloads: readings.map((r) => r.payload) };
}

/** Publishes readings of new meters and waits until central has every one. */
async function assertBridges(setup: Setup, bridge: BridgeProcess, count: number): Promise<void> {
  const fresh = newMeterReadings(count);
  {
    await using publisher = await Publisher.connect(setup.internal.url);
    await publisher.publishAll("MQTT_ENY_NOW", fresh.payloads);
  }
  const arrived = () => fresh.keys.every((key) => setup.consumer.ledger.counts.has(key));
  assert.ok(
    await waitUntil(arrived, 30_000),
    `new readings did not reach central: ${
      fresh.keys.filter((key) => !setup.consumer.ledger.counts.has(key)).length
    } of ${count} missing\n${complaints(bridge)}`,
  );
}

/** Truncates `path` if it exists; returns whether it did. */
function truncate(path: string, length: number): boolean {
  try {
    Deno.truncateSync(path, length);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("fault injection: bridge killed with 3,050 pending, outbox.sqlite and its -wal truncated to 0 bytes: reported loudly until acknowledged, bridging goes on", async () => {
  await using setup = await setUp();
  await pileUp(setup, "SIGKILL");
  const outbox = `${setup.state}/outbox.sqlite`;
  const truncated = ["", "-wal", "-shm"].filter((suffix) => truncate(outbox + suffix, 0));
  assert.ok(truncated.includes("-wal"), "the killed bridge left outbox.sqlite-wal");

  await setup.central.admit([CONSUMER, BRIDGE]);
  await using bridge = await startBridge(setup.yaml);
  const error = await bridge.waitForLog(
    (l) => l.level === "ERROR" && l.outbox_problem !== undefined,
    "the outbox problem to be logged",
    30_000,
  );
  const logged = error.outbox_problem as OutboxProblem;
  console.log(
    `outbox zeroed (${truncated.map((s) => `outbox.sqlite${s}`).join(", ")} truncated to 0): ` +
      `logged ${JSON.stringify(error.message)}`,
  );
  assert.equal(logged.kind, "empty");
  assert.equal(logged.file, outbox);
  assert.equal(logged.expected_readings, PENDING);
  assert.equal(logged.missing_sequence_numbers, PENDING);
  assert.match(String(error.message), new RegExp(`expected ${PENDING} readings`));
  assert.match(String(error.message), /restore/);

  const notReady = await expectReadyz(setup.http, 503, /found empty at start/);
  assert.match(notReady, new RegExp(`${PENDING} readings expected`));
  assert.ok(
    await waitUntil(() => lastProblem(setup.consumer)?.kind === "empty", 20_000),
    `bridge/outbox carries no problem: ${JSON.stringify(setup.consumer.lastOutbox)}`,
  );
  assert.equal(lastProblem(setup.consumer)?.expected_readings, PENDING);

  await assertBridges(setup, bridge, 20);
  // Still reported: bridging again does not make the loss go away.
  await expectReadyz(setup.http, 503, /found empty at start/);

  await using operator = await TestClient.connect(setup.central.url, undefined, CONSUMER);
  await operator.subscribe("kpm33b/bridge/response/#");
  await operator.publish(
    "kpm33b/bridge/request/outbox/acknowledge",
    JSON.stringify({ transaction: "ack-1" }),
  );
  await operator.waitFor(
    (r) => r.some((m) => m.topic === "kpm33b/bridge/response/outbox/acknowledge"),
    "the answer to outbox/acknowledge",
  );
  const answer = ApiResponse.parse(
    JSON.parse(operator.first("kpm33b/bridge/response/outbox/acknowledge").payload),
  );
  assert.equal(answer.status, "ok");
  assert.equal(answer.transaction, "ack-1");
  assert.equal((answer.data.acknowledged as OutboxProblem).kind, "empty");

  await expectReadyz(setup.http, 200, /^ready/);
  assert.ok(
    await waitUntil(() => lastProblem(setup.consumer) === null, 10_000),
    `bridge/outbox still carries the problem: ${JSON.stringify(setup.consumer.lastOutbox)}`,
  );
  await bridge.waitForLog(
    (l) => String(l.message).startsWith("Outbox problem acknowledged"),
    "the acknowledgement to be logged",
  );
  const { code } = await bridge.stop("SIGTERM");
  assert.equal(code, 0, complaints(bridge));

  // The next start finds the outbox as its record describes it: nothing to report.
  await using again = await startBridge(setup.yaml);
  await again.waitForLog((l) => String(l.message) === "Worker proxy started", "the proxy", 30_000);
  await expectReadyz(setup.http, 200, /^ready/);
  assert.deepEqual(
    again.logLines().filter((l) => l.outbox_problem !== undefined),
    [],
    "no problem at the next start",
  );
  const stopped = await again.stop("SIGTERM");
  assert.equal(stopped.code, 0, complaints(again));
});

Deno.test("fault injection: outbox.sqlite truncated to half: moved aside and named, no restart loop, bridging goes on", async () => {
  await using setup = await setUp();
  await pileUp(setup, "SIGTERM");
  const outbox = `${setup.state}/outbox.sqlite`;
  const size = Deno.statSync(outbox).size;
  truncate(outbox, Math.floor(size / 2));

  await setup.central.admit([CONSUMER, BRIDGE]);
  await using bridge = await startBridge(setup.yaml);
  const error = await bridge.waitForLog(
    (l) => l.level === "ERROR" && l.outbox_problem !== undefined,
    "the outbox problem to be logged",
    30_000,
  );
  const logged = error.outbox_problem as OutboxProblem;
  console.log(
    `outbox truncated from ${size} to ${Math.floor(size / 2)} bytes: logged ${
      JSON.stringify(error.message)
    }`,
  );
  assert.equal(logged.kind, "corrupt");
  assert.equal(logged.expected_readings, PENDING);
  assert.ok(logged.moved_to?.startsWith(`${outbox}.corrupt-`), logged.moved_to ?? "");
  assert.ok(String(error.message).includes(logged.moved_to!), "the log names the moved file");
  assert.ok(String(error.message).includes(`sqlite3 ${logged.moved_to} .recover`));
  assert.equal(Deno.statSync(logged.moved_to!).size, Math.floor(size / 2), "kept as it was");

  await assertBridges(setup, bridge, 20);
  await expectReadyz(setup.http, 503, /damaged and moved aside/);
  assert.ok(
    await waitUntil(() => lastProblem(setup.consumer)?.kind === "corrupt", 20_000),
    `bridge/outbox carries no problem: ${JSON.stringify(setup.consumer.lastOutbox)}`,
  );
  // No restart of the proxy follows.
  await sleep(3000);
  const starts = bridge.logLines().filter((l) => String(l.message) === "Worker proxy started");
  const crashes = bridge.logLines().filter((l) => /Worker proxy crashed/.test(String(l.message)));
  assert.equal(starts.length, 1, `the proxy started ${starts.length} times\n${complaints(bridge)}`);
  assert.deepEqual(crashes.map((l) => l.message), []);
  const { code } = await bridge.stop("SIGTERM");
  assert.equal(code, 0, complaints(bridge));
});
