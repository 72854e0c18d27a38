/**
 * Fault injection with the embedded meters' broker: the real bridge
 * (subprocess) runs the meters' broker itself (`internal_broker.embedded`)
 * and is killed with SIGKILL while meters stream readings, then restarted on
 * the same port and `state_dir`. The meters (mqtt.js, QoS 1, a persistent
 * session under a stable client id) reconnect by themselves and send again
 * what was not acknowledged.
 *
 * Contract under test: every reading the meters' broker acknowledged (PUBACK)
 * to a meter reaches the central broker, in order per meter, also when the
 * whole process died right after the acknowledgement.
 */
import assert from "node:assert/strict";
import mqtt, { type MqttClient } from "mqtt";
import { complaints, startBridge } from "../helpers/bridge.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { freePort } from "../helpers/ports.ts";
import { isRunning } from "../helpers/proc.ts";
import {
  CentralConsumer,
  energyReplay,
  type ReplayReading,
  waitForProgress,
} from "../helpers/replay.ts";
import { sleep, waitUntil } from "../helpers/wait.ts";

/** Central holds a whole replay for the consumer and writes each reading to it at once. */
const CENTRAL = "max_queued_messages 1000000\nmax_inflight_messages 0";

/** The meters: one persistent MQTT session publishing readings with QoS 1. */
class Meters implements AsyncDisposable {
  /** Key → the bridge run (1 or 2) whose broker acknowledged the reading. */
  readonly acked = new Map<string, number>();
  /** The bridge run the broker's acknowledgements come from now. */
  run = 1;

  private constructor(readonly client: MqttClient) {}

  /** Connects with a clean-false session that reconnects (and resends) by itself. */
  static async connect(url: string): Promise<Meters> {
    const client = mqtt.connect(url, {
      clientId: "fault-embedded-meters",
      clean: false,
      reconnectPeriod: 250,
      connectTimeout: 5000,
      protocolVersion: 4,
    });
    client.on("error", () => {}); // the broker is killed: the client reconnects
    await new Promise<void>((resolve) => client.once("connect", () => resolve()));
    return new Meters(client);
  }

  /**
   * Publishes the readings in order with at most `window` unacknowledged;
   * resolves when all are acknowledged, never rejects (a failure is returned).
   */
  publishAll(readings: readonly ReplayReading[], window = 100): Promise<unknown> {
    let next = 0;
    const lane = async () => {
      while (next < readings.length) {
        const reading = readings[next++]!;
        await this.client.publishAsync("MQTT_ENY_NOW", reading.payload, { qos: 1 });
        this.acked.set(reading.key, this.run);
      }
    };
    return Promise.all(Array.from({ length: window }, lane)).then(() => undefined, (e) => e);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** Pids of a process's children. */
async function childrenOf(pid: number): Promise<number[]> {
  const { stdout } = await new Deno.Command("pgrep", { args: ["-P", String(pid)] }).output();
  return new TextDecoder().decode(stdout).split("\n").filter((l) => l !== "").map(Number);
}

Deno.test("fault injection: bridge with the embedded meters' broker killed (SIGKILL) mid-stream loses no acknowledged reading", async () => {
  const replay = energyReplay({ meters: 30, perMeter: 200 });
  const total = replay.readings.length;
  const state = await Deno.makeTempDir({ prefix: "kpm33b-fault-state-" });
  await using _state = {
    [Symbol.asyncDispose]: () => Deno.remove(state, { recursive: true }).catch(() => {}),
  };
  const port = freePort();
  await using central = await startMosquitto(CENTRAL);
  await using consumer = await CentralConsumer.connect(central.url, { expected: replay.expected });
  const yaml = `internal_broker: { url: "mqtt://127.0.0.1:${port}", embedded: { enabled: true } }
central_broker: { url: "${central.url}", embedded: { enabled: false } }
meters: { timezone: UTC, time_sync: { max_drift_seconds: 86400 } }
logging: { level: info, format: json, stats_interval_seconds: 0 }
outbox: { drain_rate_per_second: 0 }
state_dir: ${state}
`;
  const online = (since: number) => () =>
    consumer.states.some((s) => s.state === "online" && s.at >= since);

  await using first = await startBridge(yaml);
  assert.ok(await waitUntil(online(0), 30_000), `first bridge not online\n${complaints(first)}`);
  await using meters = await Meters.connect(`mqtt://127.0.0.1:${port}`);
  const publishing = meters.publishAll(replay.readings);

  assert.ok(
    await waitUntil(() => meters.acked.size >= total / 4, 60_000),
    `a quarter of the readings were not acknowledged: ${meters.acked.size}\n${complaints(first)}`,
  );
  const pid = first.bridgePid();
  assert.ok(pid !== undefined, "the bridge logged its pid");
  const family = [pid, first.pid, ...await childrenOf(pid)];
  const receivedAtKill = consumer.ledger.unique;
  await first.stop("SIGKILL");
  const killedAt = Date.now();
  meters.run = 2;
  const ackedBeforeKill = [...meters.acked.keys()];
  for (const p of family) assert.equal(await isRunning(p), false, `process ${p} survived`);

  // The bridge stays down a while before it is started again.
  await sleep(1000);
  await using second = await startBridge(yaml);
  assert.ok(
    await waitUntil(online(killedAt), 30_000),
    `second bridge not online\n${complaints(second)}`,
  );
  const published = await publishing;
  assert.equal(published, undefined, `publishing failed: ${published}`);
  await waitForProgress(
    () => consumer.ledger.unique >= total,
    () => consumer.ledger.received,
    { timeoutMs: 60_000, stallMs: 20_000 },
  );

  const { ledger } = consumer;
  const lostBeforeKill = ackedBeforeKill.filter((key) => !ledger.counts.has(key));
  const lost = [...meters.acked.keys()].filter((key) => !ledger.counts.has(key));
  console.log(
    `embedded meters' broker, bridge killed: ${total} sent, ${ackedBeforeKill.length} acked ` +
      `before the kill (${receivedAtKill} on central then), ${lostBeforeKill.length} of those ` +
      `lost; ${meters.acked.size} acked in all, ${lost.length} lost, ${ledger.unique} received ` +
      `unique, ${ledger.duplicates} duplicates, ${
        ledger.orderViolations.length === 0
          ? "order kept"
          : `ORDER BROKEN (${ledger.orderViolations.length})`
      }`,
  );
  assert.equal(
    lostBeforeKill.length,
    0,
    `${lostBeforeKill.length} readings acknowledged before the kill never reached central, e.g. ` +
      lostBeforeKill.slice(0, 5).join(", "),
  );
  assert.equal(lost.length, 0, `acknowledged readings lost, e.g. ${lost.slice(0, 5).join(", ")}`);
  assert.equal(meters.acked.size, total, "every reading was acknowledged in the end");
  assert.deepEqual(ledger.orderViolations.slice(0, 10), [], "a meter's readings went backwards");
  assert.deepEqual(ledger.payloadErrors.slice(0, 10), [], "payloads differ from the readings");
  const { code } = await second.stop("SIGTERM");
  assert.equal(code, 0, `bridge exit code ${code}\n${complaints(second)}`);
});
