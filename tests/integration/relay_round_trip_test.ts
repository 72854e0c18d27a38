/**
 * The relay switched from Home Assistant end to end: the real bridge
 * (`deno task start`, embedded meters' broker), a real Mosquitto as the
 * central broker, and `deno task simulate` in two processes on the meters'
 * broker (33B1225950027 and …028 in one, …029 in the other, with duplicates
 * and zero bursts), as in a user's set-up. The relay of 33B1225950027 is
 * switched ON and OFF 50 times over `kpm33b/<id>/relay/set`, also right after
 * the bridge restarts and right after the meter's connection was taken over
 * and came back; every switch must be acknowledged on its first send.
 */
import assert from "node:assert/strict";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { type BridgeProcess, startBridge } from "../helpers/bridge.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { freePort, waitForPort } from "../helpers/ports.ts";
import { until } from "../helpers/wait.ts";

const A = "33B1225950027" as MeterId;
const C = "33B1225950029" as MeterId;
const SWITCHES = 50;
const RESTART_BRIDGE_AT = 20;
const RECONNECT_METER_AT = 35;
const PROJECT = new URL("../../", import.meta.url).pathname;

/** `deno task simulate` (the task's command) with its output collected. */
class Simulator implements AsyncDisposable {
  #text = "";
  readonly #drained: Promise<unknown>;

  private constructor(readonly child: Deno.ChildProcess) {
    const decoder = new TextDecoder();
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) this.#text += decoder.decode(chunk, { stream: true });
    };
    this.#drained = Promise.all([pump(child.stdout), pump(child.stderr)]);
  }

  static start(args: readonly string[]): Simulator {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", "--allow-env", "src/simulator/cli.ts", ...args],
      cwd: PROJECT,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    return new Simulator(child);
  }

  lines(): string[] {
    return this.#text.split("\n");
  }

  count(pattern: RegExp): number {
    return this.lines().filter((line) => pattern.test(line)).length;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // already exited
    }
    const killer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await this.child.status;
    clearTimeout(killer);
    await this.#drained;
  }
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)] ?? NaN;
}

Deno.test("relay: 50 switches from Home Assistant, across a bridge restart and a meter reconnect, each acknowledged on its first send", async () => {
  await using central = await startMosquitto();
  const port = freePort();
  const stateDir = await Deno.makeTempDir({ prefix: "kpm33b-relay-" });
  const yaml =
    `internal_broker: { url: "mqtt://127.0.0.1:${port}", client_id: relay-bridge, embedded: { enabled: true } }
central_broker: { url: "${central.url}", client_id: relay-bridge, embedded: { enabled: false } }
state_dir: ${stateDir}
meters:
  relay_control: [${A}]
logging: { format: json, level: info, stats_interval_seconds: 0 }
`;
  const bridges: BridgeProcess[] = [await startBridge(yaml)];
  const bridge = () => bridges.at(-1)!;
  await using ha = await TestClient.connect(central.url);
  await ha.subscribe(["kpm33b/bridge/state", `kpm33b/${A}/#`]);
  const online = (after: number) =>
    ha.waitFor(
      (r) =>
        r.slice(after).some((m) => m.topic === "kpm33b/bridge/state" && m.payload === "online"),
      "bridge/state online",
      30_000,
    );
  await online(0);
  const common = ["--broker", `mqtt://127.0.0.1:${port}`, "--time-scale", "10", "--state", "none"];
  const noise = ["--duplicates", "--zero-bursts", "--verbose"];
  await using simulator = Simulator.start([...common, ...noise, "--meters", "2", "--first-id", A]);
  await using other = Simulator.start([...common, ...noise, "--meters", "1", "--first-id", C]);
  const reading = (after: number) =>
    ha.waitFor(
      (r) => r.slice(after).some((m) => m.topic === `kpm33b/${A}/seconds` && !m.retain),
      `a reading of ${A}`,
      30_000,
    );
  try {
    await reading(0);
    const roundTrips: number[] = [];
    const results: number[] = [];
    for (let n = 0; n < SWITCHES; n++) {
      if (n === RESTART_BRIDGE_AT) {
        assert.equal((await bridge().stop()).code, 0);
        const before = ha.received.length;
        bridges.push(await startBridge(yaml));
        await online(before);
        // The meter is back once the bridge has a reading of it again: switch at once.
        await reading(before);
      }
      if (n === RECONNECT_METER_AT) {
        // Another client with the meter's client id takes its connection over; it comes back.
        const before = ha.received.length;
        const lost = simulator.count(new RegExp(`meter ${A}: connection lost`));
        await waitForPort(port);
        const intruder = await TestClient.connect(`mqtt://127.0.0.1:${port}`, `meter-${A}`);
        await intruder[Symbol.asyncDispose]();
        await until(
          () => simulator.count(new RegExp(`meter ${A}: connection lost`)) > lost,
          "the simulator to notice",
        );
        await reading(before);
      }
      const state = n % 2 === 0 ? "ON" : "OFF";
      const before = ha.received.length;
      const started = performance.now();
      let resultAt = 0;
      await ha.client.publishAsync(`kpm33b/${A}/relay/set`, state, { qos: 1 });
      await ha.waitFor(
        (r) => {
          const fresh = r.slice(before);
          const result = fresh.find((m) => m.topic === `kpm33b/${A}/relay/result`);
          if (result !== undefined && resultAt === 0) resultAt = performance.now();
          return result !== undefined &&
            fresh.some((m) => m.topic === `kpm33b/${A}/io` && JSON.parse(m.payload).do1 === state);
        },
        `switch ${n + 1} (${state}): its result and the meter's I/O report`,
        60_000,
      );
      roundTrips.push(performance.now() - started);
      results.push(resultAt - started);
      const result = JSON.parse(
        ha.received.slice(before).find((m) => m.topic === `kpm33b/${A}/relay/result`)!.payload,
      );
      assert.deepEqual(result, { status: "ok", data: { id: A, state } }, `switch ${n + 1}`);
    }
    const sends = bridges.map((b) =>
      b.output().split("\n").filter((line) =>
        line.includes("Sending relay DO1") && line.includes(A)
      ).length
    ).reduce((a, b) => a + b);
    assert.equal(sends, SWITCHES, "one MQTT_TELECTRL per switch (bridge log)");
    assert.equal(
      simulator.count(
        new RegExp(`^meter ${A}: MQTT_TELECTRL_25950027 .* MQTT_TELECTRL_REP code 01`),
      ),
      SWITCHES,
      "each switch received and answered once by the meter",
    );
    assert.equal(other.count(/connection lost/), 1, "the other simulator lost its connection once");
    console.log(
      `relay round trip over ${SWITCHES} switches (relay/set → result and I/O state): ` +
        `p50 ${percentile(roundTrips, 50).toFixed(0)} ms, ` +
        `p99 ${percentile(roundTrips, 99).toFixed(0)} ms; ` +
        `to relay/result: p50 ${percentile(results, 50).toFixed(0)} ms, ` +
        `p99 ${percentile(results, 99).toFixed(0)} ms`,
    );
  } catch (error) {
    console.log(`simulator output:\n${simulator.lines().join("\n")}`);
    console.log(`bridge output:\n${bridge().output()}`);
    throw error;
  } finally {
    for (const b of bridges) await b[Symbol.asyncDispose]();
    await Deno.remove(stateDir, { recursive: true });
  }
});
