/**
 * `deno task simulate` as a user runs it: a refused login and a broker that
 * is not there each get their own message and exit code, and a simulator
 * stopped with SIGTERM and started again continues its energy registers, so
 * the real bridge publishes its readings on (no `energy_regression` drop, no
 * register reset).
 */
import assert from "node:assert/strict";
import { Config } from "../../src/config/schema.ts";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { CONTRACT_AUTH, CONTRACT_INTERNAL_BROKER } from "../broker/broker_security_contract.ts";
import { startBridge } from "../helpers/bridge.ts";
import { shippedInternalMosquitto, startMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { freePort } from "../helpers/ports.ts";
import { until } from "../helpers/wait.ts";

const PROJECT = new URL("../../", import.meta.url).pathname;
const METER = "33B1225950027" as MeterId;

/** `deno task simulate` with `args`, its output collected. */
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
      args: ["task", "--quiet", "simulate", ...args],
      cwd: PROJECT,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    return new Simulator(child);
  }

  /** Runs the simulator until it exits by itself (within `timeoutMs`). */
  static async run(args: readonly string[], timeoutMs = 60_000) {
    await using simulator = Simulator.start(args);
    const killer = setTimeout(() => simulator.child.kill("SIGKILL"), timeoutMs);
    const { code } = await simulator.child.status;
    clearTimeout(killer);
    await simulator.#drained;
    return { code, output: simulator.output() };
  }

  output(): string {
    return this.#text;
  }

  /** Sends SIGTERM and waits for the exit. */
  async stop(): Promise<number> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // already exited
    }
    const killer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    const { code } = await this.child.status;
    clearTimeout(killer);
    await this.#drained;
    return code;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** A state file of its own inside the project's `state/`, where the task may write. */
function stateFile(): { path: string } & AsyncDisposable {
  const path = `state/simulator-test-${crypto.randomUUID().slice(0, 8)}.json`;
  return {
    path,
    [Symbol.asyncDispose]: async () => {
      for (const file of [path, `${path}.tmp`]) {
        await Deno.remove(`${PROJECT}${file}`).catch((error) => {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        });
      }
    },
  };
}

const LOGIN_ADVICE =
  /KPM33B_METER_PASSWORD[\s\S]*internal_broker\.meter_auth[\s\S]*--username and --password/;

Deno.test("simulate: a wrong password at the bridge's embedded meters' broker says the login was refused", async () => {
  const port = freePort();
  await using bridge = await startBridge(
    `internal_broker:
  url: mqtt://127.0.0.1:${port}
  embedded: { enabled: true, host: 127.0.0.1 }
  meter_auth: { password: "\${KPM33B_METER_PASSWORD}" }
central_broker: { url: mqtt://127.0.0.1:${freePort()}, embedded: { enabled: true } }
logging: { format: json, stats_interval_seconds: 0 }
`,
    { KPM33B_METER_PASSWORD: "meter-secret" },
  );
  await bridge.waitForLog((l) => l.message === "Bridge state online", "online", 30_000);
  const broker = ["--broker", `mqtt://127.0.0.1:${port}`, "--state", "none"];

  const wrong = await Simulator.run([...broker, "--username", "meter", "--password", "wrong"]);
  assert.equal(wrong.code, 77, wrong.output);
  assert.match(wrong.output, /refused the login of user "meter"/);
  assert.match(wrong.output, /bad user ?name or password|not authori[sz]ed/i);
  assert.match(wrong.output, LOGIN_ADVICE);
  assert.doesNotMatch(wrong.output, /running/);

  const anonymous = await Simulator.run(broker);
  assert.equal(anonymous.code, 77, anonymous.output);
  assert.match(anonymous.output, /refused the login without a user name/);

  const right = Simulator.start([...broker, "--username", "meter", "--password", "meter-secret"]);
  await until(() => /publishing to/.test(right.output()), "the simulator to connect", 30_000);
  assert.equal(await right.stop(), 0, right.output());
});

Deno.test("simulate: a wrong password at Mosquitto with a password file says the login was refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-simulate-auth-" });
  await using _dir = { [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
  const port = freePort();
  const config = Config.parse({
    internal_broker: { url: `mqtt://127.0.0.1:${port}`, ...CONTRACT_INTERNAL_BROKER },
  });
  await using _mosquitto = await shippedInternalMosquitto(config, dir, port);
  const { code, output } = await Simulator.run([
    "--broker",
    `mqtt://127.0.0.1:${port}`,
    "--state",
    "none",
    "--username",
    CONTRACT_AUTH.shared.username,
    "--password",
    "wrong",
  ]);
  assert.equal(code, 77, output);
  assert.match(output, /refused the login of user "meter"/);
  assert.match(output, LOGIN_ADVICE);
});

Deno.test("simulate: a port nothing listens on says so, not that the login failed", async () => {
  const port = freePort();
  const { code, output } = await Simulator.run([
    "--broker",
    `mqtt://127.0.0.1:${port}`,
    "--state",
    "none",
  ]);
  assert.equal(code, 69, output);
  assert.match(
    output,
    new RegExp(`ECONNREFUSED[\\s\\S]*Nothing accepts connections on 127\\.0\\.0\\.1:${port}`),
  );
  assert.match(output, /is the broker running/);
  assert.doesNotMatch(output, /login/);
});

Deno.test("simulate: a state file outside state/ is refused with what to do, before connecting", async () => {
  const { code, output } = await Simulator.run([
    "--broker",
    `mqtt://127.0.0.1:${freePort()}`,
    "--state",
    "/tmp/kpm33b-simulator.json",
  ]);
  assert.equal(code, 74, output);
  assert.match(output, /cannot read the state file \/tmp\/kpm33b-simulator\.json/);
  assert.match(output, /only inside \.\/state\//);
});

Deno.test("simulate: stopped with SIGTERM and started again, the meter's registers continue and the bridge publishes on", async () => {
  await using central = await startMosquitto();
  const port = freePort();
  await using bridge = await startBridge(
    `internal_broker: { url: "mqtt://127.0.0.1:${port}", embedded: { enabled: true } }
central_broker: { url: "${central.url}", embedded: { enabled: false } }
meters: { timezone: UTC }
logging: { format: json, level: info, stats_interval_seconds: 0 }
`,
  );
  await using ha = await TestClient.connect(central.url);
  await ha.subscribe(`kpm33b/${METER}/minutes`);
  await bridge.waitForLog((l) => l.message === "Bridge state online", "online", 30_000);
  await using state = stateFile();
  const args = [
    "--broker",
    `mqtt://127.0.0.1:${port}`,
    "--meters",
    "1",
    "--first-id",
    METER,
    "--time-scale",
    "60",
    "--state",
    state.path,
  ];
  const energies = () =>
    ha.on(`kpm33b/${METER}/minutes`).filter((m) => !m.retain).map((m) =>
      JSON.parse(m.payload).active_energy as number
    );

  const first = Simulator.start(args);
  await until(() => energies().length >= 3, "readings of the first run", 60_000);
  assert.equal(await first.stop(), 0, first.output());
  const before = energies();
  const last = before.at(-1)!;
  const kept = JSON.parse(await Deno.readTextFile(`${PROJECT}${state.path}`));
  assert.ok(kept.meters[METER].import_kwh >= last, JSON.stringify(kept));

  await using second = Simulator.start(args);
  await until(
    () => energies().length >= before.length + 3,
    "readings after the restart",
    60_000,
  );
  assert.match(second.output(), /1 of 1 meters continue from it/);
  const [resumed = NaN] = energies().slice(before.length);
  assert.ok(resumed >= last, `${resumed} after ${last}`);
  // Continued, not a new start that happens to be higher: a few seconds at 180 kW.
  assert.ok(resumed - last < 5, `${resumed} after ${last}`);
  const trouble = bridge.logLines().filter((l) =>
    /would go backwards|register reset|restarted from/.test(String(l.message))
  );
  assert.deepEqual(trouble, []);
});
