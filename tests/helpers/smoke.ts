/**
 * A smoke test of a bridge started some other way than `deno task start` (an
 * emulated runtime, a compiled binary): the shipped configuration with both
 * brokers embedded, every worker running, one simulated meter's readings
 * bridged end to end, all within one time budget.
 */
import assert from "node:assert/strict";
import { parseDocument } from "yaml";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { SimulatedMeter } from "../../src/simulator/simulated_meter.ts";
import { type BridgeCommand, type BridgeProcess, startBridge } from "./bridge.ts";
import { freePort } from "./ports.ts";
import { TestClient } from "./mqtt_client.ts";
import { isRunning } from "./proc.ts";
import { sleep } from "./wait.ts";

const PROJECT = new URL("../../", import.meta.url);
/** The simulated meter. */
const METER = "33B1225950027" as MeterId;
/** A per-meter topic of the meter on central. */
const topic = (level: string): string => `kpm33b/${METER}/${level}`;
/** Each smoke test, start-up and shutdown included, ends within this. */
const BUDGET_MS = 180_000;

/** The last lines of a process's output, for failure messages. */
function tail(output: string, lines = 40): string {
  return output.trimEnd().split("\n").slice(-lines).join("\n");
}

/** A deadline shared by every step of one test. */
export class Budget {
  readonly #endsAt = Date.now() + BUDGET_MS;

  /** Milliseconds left, at least 1. */
  left(): number {
    return Math.max(1, this.#endsAt - Date.now());
  }

  /**
   * Awaits `step`; if it fails, or the budget runs out first, the error names
   * `what` and ends with the output tail.
   */
  async within<T>(what: string, output: () => string, step: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`not done within the ${BUDGET_MS / 1000} s budget`)),
        this.left(),
      );
    });
    try {
      return await Promise.race([step, timeout]);
    } catch (error) {
      throw new Error(`${what}: ${(error as Error).message}\noutput (tail):\n${tail(output())}`, {
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The shipped config.yaml with JSON logs and the HTTP endpoint on a free loopback port. */
function shippedConfig(httpPort: number): string {
  const doc = parseDocument(Deno.readTextFileSync(new URL("config.yaml", PROJECT)));
  doc.setIn(["logging", "format"], "json");
  doc.setIn(["logging", "stats_interval_seconds"], 0);
  doc.setIn(["http", "host"], "127.0.0.1");
  doc.setIn(["http", "port"], httpPort);
  return String(doc);
}

/**
 * Polls `/readyz` until it answers 200: every worker runs and both brokers are
 * connected. Fails at once if the bridge exits instead.
 */
async function waitReady(
  port: number,
  bridge: BridgeProcess,
  budget: Budget,
): Promise<void> {
  let last = "no answer yet";
  const fail = (why: string) => new Error(`${why}; output (tail):\n${tail(bridge.output())}`);
  while (budget.left() > 1) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`);
      last = `${response.status} ${(await response.text()).trim()}`;
      if (response.ok) return;
    } catch (error) {
      last = String(error);
    }
    if (!(await isRunning(bridge.pid))) {
      throw fail(`the bridge exited with code ${(await bridge.stop()).code} while starting`);
    }
    await sleep(250);
  }
  throw fail(`/readyz did not answer 200 within the budget (last: ${last})`);
}

type Payload = Record<string, unknown>;

/** What the meter sent, by topic, and what central received on each level. */
interface Exchange {
  readonly sent: ReadonlyMap<string, Payload>;
  readonly seconds: Payload;
  readonly minutes: Payload;
}

/**
 * A simulated meter publishes one instantaneous and one energy reading. Both
 * clients have disconnected when this returns.
 */
async function bridgeReadings(
  internalPort: number,
  centralPort: number,
  bridge: BridgeProcess,
  budget: Budget,
): Promise<Exchange> {
  await using consumer = await TestClient.connect(`mqtt://127.0.0.1:${centralPort}`);
  await consumer.subscribe([topic("seconds"), topic("minutes")]);
  const meter = await budget.within(
    "the simulated meter connecting",
    bridge.output,
    SimulatedMeter.start({
      url: `mqtt://127.0.0.1:${internalPort}`,
      id: METER,
      timeZone: "Europe/Vienna",
      autoPublish: false,
    }),
  );
  // Meters' topics are not readable by other clients of the meters' broker,
  // so what the meter sent is taken from its own client.
  const sent = new Map<string, Payload>();
  meter.client.on("packetsend", (packet) => {
    if (packet.cmd === "publish") sent.set(packet.topic, JSON.parse(String(packet.payload)));
  });
  try {
    await meter.publishInstant();
    await meter.publishEnergy();
    await budget.within(
      "the readings bridged to central",
      bridge.output,
      consumer.waitFor(
        () => ["seconds", "minutes"].every((level) => consumer.on(topic(level)).length > 0),
        "seconds and minutes",
        budget.left(),
      ),
    );
  } finally {
    await meter.stop();
  }
  const received = (level: string) => {
    const [message] = consumer.on(topic(level));
    assert.ok(message !== undefined, `a ${level} reading was published`);
    return JSON.parse(message.payload);
  };
  return { sent, seconds: received("seconds"), minutes: received("minutes") };
}

/**
 * Starts the bridge with `command` on the shipped configuration, waits until
 * `/readyz` answers 200, bridges one instantaneous and one energy reading
 * and checks them against what the meter sent, then stops it with SIGTERM
 * and expects exit code 0 with every worker stopped in time.
 */
export async function smokeTest(command: BridgeCommand): Promise<void> {
  const budget = new Budget();
  const internalPort = freePort();
  const centralPort = freePort();
  const httpPort = freePort();
  const stateDir = await Deno.makeTempDir({ prefix: "kpm33b-smoke-" });
  await using _state = {
    [Symbol.asyncDispose]: () => Deno.remove(stateDir, { recursive: true }),
  };
  await using bridge = await startBridge(
    shippedConfig(httpPort),
    {
      KPM33B_INTERNAL_PORT: String(internalPort),
      KPM33B_CENTRAL_PORT: String(centralPort),
      KPM33B_STATE_DIR: stateDir,
    },
    command,
  );
  await waitReady(httpPort, bridge, budget);

  const { sent, seconds, minutes } = await bridgeReadings(
    internalPort,
    centralPort,
    bridge,
    budget,
  );
  assert.deepEqual(Object.keys(seconds).sort(), ["active_power", "id", "time", "timestamp"]);
  assert.equal(seconds.id, METER);
  assert.equal(seconds.time, sent.get("MQTT_RT_DATA")?.time);
  assert.equal(seconds.active_power, sent.get("MQTT_RT_DATA")?.zyggl);
  assert.equal(minutes.id, METER);
  assert.equal(minutes.active_energy, sent.get("MQTT_ENY_NOW")?.zygsz);

  const { code } = await budget.within("SIGTERM shutdown", bridge.output, bridge.stop("SIGTERM"));
  assert.equal(code, 0, `exit code ${code}; output (tail):\n${tail(bridge.output())}`);
  assert.doesNotMatch(bridge.output(), /did not stop/, tail(bridge.output()));
}
