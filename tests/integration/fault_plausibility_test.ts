/**
 * Fault injection at the edges of what a meter sends: absurd values and
 * implausible times, a register reset, a meter's retained reading replayed at
 * every resubscribe, and clearing a meter's history on purpose — with the
 * real bridge (subprocess) between two real Mosquitto brokers.
 *
 * Contract: nothing implausible reaches central or becomes the level later
 * readings are compared with (also across a restart); a register reset is
 * published once it is confirmed; a retained reading is never published
 * after newer ones; each rejection is counted, in the meter's status and in
 * /metrics.
 */
import assert from "node:assert/strict";
import { MeterStatus } from "../../src/protocol/meter_status.ts";
import { type BridgeProcess, runTaskStart, startBridge } from "../helpers/bridge.ts";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { freePort } from "../helpers/ports.ts";

const ID = "33B1225950027";
const MINUTES = `kpm33b/${ID}/minutes`;

/** A meter time (UTC) `seconds` from now, as meters write it. */
function meterTime(seconds: number): string {
  return new Date(Date.now() + seconds * 1000).toISOString().replace(/\D/g, "").slice(0, 14);
}

/** An energy reading of the meter with `zygsz` at `time`. */
function energy(zygsz: unknown, time: string): string {
  return JSON.stringify({ id: ID, zygsz, fygsz: 0, time, isend: "1" });
}

/** Two real Mosquitto brokers, a state directory, and the bridge between them. */
class Rig implements AsyncDisposable {
  bridge: BridgeProcess | undefined;
  readonly httpPort = freePort();

  private constructor(
    readonly internal: Mosquitto,
    readonly central: Mosquitto,
    readonly stateDir: string,
    readonly meter: TestClient,
    readonly consumer: TestClient,
  ) {}

  static async start(): Promise<Rig> {
    const internal = await startMosquitto();
    const central = await startMosquitto();
    const stateDir = await Deno.makeTempDir({ prefix: "kpm33b-plausibility-" });
    const meter = await TestClient.connect(internal.url, `meter-${ID}`);
    const consumer = await TestClient.connect(central.url);
    await consumer.subscribe(["kpm33b/#"]);
    const rig = new Rig(internal, central, stateDir, meter, consumer);
    await rig.startBridge();
    return rig;
  }

  get yaml(): string {
    return `internal_broker: { url: "${this.internal.url}", embedded: { enabled: false } }
central_broker: { url: "${this.central.url}", embedded: { enabled: false } }
meters: { timezone: UTC, status_interval_seconds: 1 }
homeassistant: { enabled: false }
http: { enabled: true, host: 127.0.0.1, port: ${this.httpPort} }
logging: { level: info, format: json, stats_interval_seconds: 0 }
state_dir: ${this.stateDir}
`;
  }

  /** Starts the bridge and waits until it is online (a new `online` after any before). */
  async startBridge(): Promise<void> {
    const before = this.consumer.on("kpm33b/bridge/state").length;
    this.bridge = await startBridge(this.yaml);
    await this.consumer.waitFor(
      (received) =>
        received.filter((m) => m.topic === "kpm33b/bridge/state").slice(before)
          .some((m) => m.payload === "online"),
      "bridge online",
      60_000,
    );
  }

  /** Stops the bridge cleanly (SIGTERM). */
  async stopBridge(): Promise<void> {
    const { code } = await this.bridge!.stop("SIGTERM");
    assert.equal(code, 0, this.bridge!.output());
  }

  /** The active_energy values published on central so far, in order. */
  published(): unknown[] {
    return this.consumer.on(MINUTES).map((m) => JSON.parse(m.payload).active_energy);
  }

  /** Sends readings (QoS 1, in order) and waits until central has `expected` in all. */
  async send(readings: string[], expected: unknown[]): Promise<void> {
    for (const payload of readings) await this.meter.publish("MQTT_ENY_NOW", payload);
    await this.consumer.waitFor(
      () => this.published().length >= expected.length,
      `${expected.length} readings on central`,
      20_000,
    );
    assert.deepEqual(this.published(), expected);
  }

  /** The meter's latest retained status once `predicate` holds for it. */
  async status(predicate: (status: MeterStatus) => boolean): Promise<MeterStatus> {
    const latest = () => {
      const last = this.consumer.on(`kpm33b/${ID}/status`).at(-1);
      return last === undefined ? undefined : MeterStatus.parse(JSON.parse(last.payload));
    };
    await this.consumer.waitFor(
      () => {
        const status = latest();
        return status !== undefined && predicate(status);
      },
      "meter status",
      15_000,
    );
    return latest()!;
  }

  /**
   * The Prometheus text of /metrics once it has every line of `expected`
   * (the HTTP worker gets the proxy's counters every 2 s).
   */
  async metrics(...expected: string[]): Promise<string> {
    const deadline = Date.now() + 15_000;
    while (true) {
      const response = await fetch(`http://127.0.0.1:${this.httpPort}/metrics`);
      const text = await response.text();
      const lines = new Set(text.split("\n"));
      if (expected.every((line) => lines.has(line))) return text;
      assert.ok(
        Date.now() < deadline,
        `/metrics lacks ${expected.join(", ")}:\n${text}\n${this.bridge?.output()}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** Log lines of the running bridge with `message` matching. */
  logged(message: RegExp): Record<string, unknown>[] {
    return this.bridge!.logLines().filter((l) => message.test(String(l.message)));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.bridge?.stop("SIGKILL");
    await this.meter[Symbol.asyncDispose]();
    await this.consumer[Symbol.asyncDispose]();
    await this.internal.stop();
    await this.central.stop();
    await Deno.remove(this.stateDir, { recursive: true });
  }
}

Deno.test("fault injection: absurd values and implausible times never reach central or freeze the meter", async () => {
  await using rig = await Rig.start();
  await rig.send([energy(101, meterTime(-240))], [101]);
  await rig.send([
    energy(1e300, meterTime(-180)),
    energy("1e308", meterTime(-170)),
    energy(102, "20991231235959"),
    energy(102, "00000101000000"),
    energy(102, "99991231235959"),
    energy(102, meterTime(-120)),
  ], [101, 102]);
  const raw = rig.consumer.received.map((m) => m.payload).join("\n");
  assert.doesNotMatch(raw, /e\+30|2099|9999-|0000-01/);

  const status = await rig.status((s) => s.implausible === 5);
  assert.match(status.last_implausible ?? "", /^time 99991231235959 is \d+ years ahead/);
  assert.equal(status.readings, 2);
  const metrics = await rig.metrics(
    'kpm33b_messages_rejected_total{reason="implausible_value"} 2',
    'kpm33b_messages_rejected_total{reason="implausible_time"} 3',
  );
  const warnings = rig.logged(/^Rejected minutes reading of 33B1225950027 \(implausible_/);
  assert.equal(warnings.length, 5);
  assert.ok(warnings.every((line) => line.level === "WARN"));

  // The stored history holds real values only: after a restart the meter goes on.
  await rig.stopBridge();
  await rig.startBridge();
  await rig.send([energy(103, meterTime(-60))], [101, 102, 103]);
  console.log(
    `  5 implausible readings sent, ${status.implausible} rejected (${
      metrics.split("\n").filter((l) => l.includes("implausible")).join(", ")
    }); published on central: ${JSON.stringify(rig.published())}`,
  );
});

Deno.test("fault injection: a register reset is accepted after 5 consistent readings; a single low one is not", async () => {
  await using rig = await Rig.start();
  await rig.send([
    energy(1000, meterTime(-600)),
    energy(5, meterTime(-540)),
    energy(1001, meterTime(-480)),
  ], [1000, 1001]);
  await rig.send(
    [2, 3, 4, 5, 6, 7].map((kwh, i) => energy(kwh, meterTime(-420 + i * 60))),
    [1000, 1001, 6, 7],
  );
  const [reset] = rig.logged(/accepted as a register reset/);
  assert.ok(reset !== undefined);
  assert.equal(reset.level, "WARN");
  assert.equal(
    reset.message,
    "Meter 33B1225950027: register zygsz restarted from 1001 at 6 (minutes level) and went on " +
      "consistently; accepted as a register reset",
  );
  const status = await rig.status((s) => s.register_resets === 1);
  assert.deepEqual(
    { ...status.last_register_reset, at: undefined },
    { at: undefined, level: "minutes", register: "zygsz", from: 1001, to: 6 },
  );
  await rig.metrics("kpm33b_register_resets_total 1");
});

Deno.test("fault injection: meter/reset_history and --reset-meter-history clear a meter's history on purpose", async () => {
  await using rig = await Rig.start();
  await rig.send([energy(5000, meterTime(-600)), energy(10, meterTime(-540))], [5000]);
  await rig.consumer.publish(
    "kpm33b/bridge/request/meter/reset_history",
    JSON.stringify({ id: ID, transaction: "swap" }),
  );
  await rig.consumer.waitFor(
    () => rig.consumer.on("kpm33b/bridge/response/meter/reset_history").length > 0,
    "reset_history response",
  );
  assert.deepEqual(
    JSON.parse(rig.consumer.first("kpm33b/bridge/response/meter/reset_history").payload),
    { status: "ok", data: { id: ID, forgotten: true }, transaction: "swap" },
  );
  await rig.send([energy(11, meterTime(-480))], [5000, 11]);

  const configPath = `${rig.stateDir}/cli.yaml`;
  await Deno.writeTextFile(configPath, rig.yaml);
  const cli = () => runTaskStart(["--config", configPath, "--reset-meter-history", ID]);
  // While the bridge holds the outbox the CLI says what to do instead.
  const busy = await cli();
  assert.equal(busy.code, 75, busy.stderr);
  assert.match(busy.stderr, /Stop the bridge first, or while it runs publish/);

  await rig.send([energy(20, meterTime(-420))], [5000, 11, 20]);
  await rig.stopBridge();
  const done = await cli();
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stdout, /^forgot the filter history of 33B1225950027 in /);
  await rig.startBridge();
  await rig.send([energy(3, meterTime(-360))], [5000, 11, 20, 3]);
});

Deno.test("fault injection: a retained reading replayed at resubscribe is never published after newer ones", async () => {
  await using rig = await Rig.start();
  // Instantaneous values: unlike energy registers, nothing else tells an old one from a new one.
  const power = (kw: number, time: string) =>
    JSON.stringify({ id: ID, ua: 230, zyggl: kw, time, isend: "1" });
  const seconds = () =>
    rig.consumer.on(`kpm33b/${ID}/seconds`).map((m) => JSON.parse(m.payload).active_power);
  await rig.meter.publish("MQTT_RT_DATA", power(1.5, meterTime(-120)), { qos: 1, retain: true });
  await rig.meter.publish("MQTT_RT_DATA", power(2.5, meterTime(-60)));
  await rig.consumer.waitFor(() => seconds().length === 2, "two readings");
  for (let restart = 0; restart < 2; restart++) {
    await rig.stopBridge();
    await rig.startBridge();
  }
  await rig.meter.publish("MQTT_RT_DATA", power(3.5, meterTime(0)));
  await rig.consumer.waitFor(() => seconds().length >= 3, "the third reading");
  assert.deepEqual(seconds(), [1.5, 2.5, 3.5]);
  // The broker did hand the retained reading over again: it was received, and dropped (it may
  // also come redelivered with the DUP flag when a restart came before its acknowledgement).
  const text = await rig.metrics('kpm33b_readings_published_total{level="seconds"} 1');
  const value = (series: string) => Number(text.match(new RegExp(`^${series} (\\d+)$`, "m"))?.[1]);
  assert.ok(value('kpm33b_readings_received_total\\{topic="MQTT_RT_DATA"\\}') >= 2, text);
  assert.ok(value('kpm33b_readings_dropped_total\\{reason="duplicate"\\}') >= 1, text);
  console.log(
    `  retained reading replayed at 2 resubscribes: received ${
      value('kpm33b_readings_received_total\\{topic="MQTT_RT_DATA"\\}')
    } times by the last bridge, dropped as duplicate ${
      value('kpm33b_readings_dropped_total\\{reason="duplicate"\\}')
    }; central got ${JSON.stringify(seconds())}`,
  );
});
