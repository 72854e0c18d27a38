/**
 * The simulated fleet on a real Mosquitto and on the embedded meters'
 * broker: many meters over few connections, first readings within the given
 * window, each meter answering its own commands, also across reconnects and
 * beside another fleet.
 */
import assert from "node:assert/strict";
import { AccessPolicy } from "../../src/broker/access_policy.ts";
import { EmbeddedBroker } from "../../src/broker/embedded_broker.ts";
import { MeterAuthConfig } from "../../src/config/schema.ts";
import { logger } from "../../src/logging/setup.ts";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import type { SimulatorLog } from "../../src/simulator/meter_connection.ts";
import { SimulatedFleet } from "../../src/simulator/simulated_fleet.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { freePort } from "../helpers/ports.ts";
import { until } from "../helpers/wait.ts";

/** The meter id number `i` of the fleet. */
const meterId = (i: number) => `33B12259${50000 + i}` as MeterId;
const IDS = Array.from({ length: 60 }, (_, i) => meterId(i));
const oprid = () => crypto.randomUUID().replaceAll("-", "");

Deno.test("every meter of a fleet reports within the window and answers its own commands", async () => {
  await using broker = await startMosquitto();
  await using bridge = await TestClient.connect(broker.url);
  await bridge.subscribe([
    "MQTT_RT_DATA",
    "MQTT_ENY_NOW",
    "MQTT_COMMOD_SET_REP",
    "MQTT_METER_TIME_REP",
  ]);
  const started = Date.now();
  const fleet = await SimulatedFleet.start({
    url: broker.url,
    ids: IDS,
    timeZone: "UTC",
    metersPerConnection: 25,
    appearWithinMs: 500,
    duplicates: true,
  });
  try {
    const ids = (topic: string) => new Set(bridge.on(topic).map((m) => JSON.parse(m.payload).id));
    await until(() => ids("MQTT_RT_DATA").size === IDS.length, "a reading of every meter");
    await until(() => ids("MQTT_ENY_NOW").size === IDS.length, "registers of every meter");
    const spread = Math.max(...fleet.appearedAt.values()) - started;
    assert.ok(spread < 3000, `the last meter appeared ${spread} ms after the start`);
    // Duplicates: every reading twice, so each meter's readings come in identical pairs.
    const first = bridge.on("MQTT_RT_DATA").filter((m) => JSON.parse(m.payload).id === meterId(7));
    assert.equal(first.length % 2, 0);
    assert.equal(first[0]?.payload, first[1]?.payload);

    const target = meterId(42);
    const suffix = target.slice(-8);
    const commands = [
      [`MQTT_COMMOD_SET_${suffix}`, { oprid: oprid(), Cmd: "0000", value: "30", types: "1" }],
      [`MQTT_COMMOD_SET_${suffix}`, { oprid: oprid(), Cmd: "0001", value: "5", types: "1" }],
      [`MQTT_SETTIME_${suffix}`, { oprid: oprid(), time: "20261206120000" }],
    ] as const;
    for (const [topic, payload] of commands) await bridge.publish(topic, JSON.stringify(payload));
    await until(() => fleet.configuredAt.has(target), "the meter to count as configured");
    assert.deepEqual([...fleet.configuredAt.keys()], [target]);
    // The fleet counts a meter configured once it sent its last reply, before that reaches us.
    const received =
      () => [...bridge.on("MQTT_COMMOD_SET_REP"), ...bridge.on("MQTT_METER_TIME_REP")];
    await until(() => received().length >= commands.length, "a reply to every command");
    const replies = received().map((m) => JSON.parse(m.payload));
    assert.deepEqual(
      replies.map((r) => [r.id, r.oprid, r.code]).sort(),
      commands.map(([, c]) => [target, c.oprid, "01"]).sort(),
    );
    const model = fleet.models.get(target)!;
    assert.equal(model.secondsInterval, 30);
    assert.equal(model.minutesInterval, 5);
    assert.equal(model.meterTime().slice(0, 10), "2026120612");
  } finally {
    await fleet.stop();
  }
});

Deno.test("with dropAcks a fleet meter applies its first commands without answering them", async () => {
  await using broker = await startMosquitto();
  await using bridge = await TestClient.connect(broker.url);
  await bridge.subscribe("MQTT_COMMOD_SET_REP");
  const id = meterId(0);
  const fleet = await SimulatedFleet.start({
    url: broker.url,
    ids: [id],
    timeZone: "UTC",
    appearWithinMs: 60_000,
    dropAcks: 1,
  });
  try {
    const set = (value: string) =>
      bridge.publish(
        `MQTT_COMMOD_SET_${id.slice(-8)}`,
        JSON.stringify({ oprid: oprid(), Cmd: "0000", value, types: "1" }),
      );
    await set("60");
    await until(() => fleet.commands === 1, "the first command");
    assert.equal(fleet.models.get(id)!.secondsInterval, 60, "applied");
    await set("30");
    await until(() => bridge.on("MQTT_COMMOD_SET_REP").length === 1, "the second reply");
    assert.equal(fleet.models.get(id)!.secondsInterval, 30);
    assert.equal(fleet.commands, 2);
  } finally {
    await fleet.stop();
  }
});

/** Collects a fleet's log lines. */
function capture(): SimulatorLog & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (line) => lines.push(line), warn: (line) => lines.push(line) };
}

/** Sends `count` relay commands to `id` one after another, each once; returns the replies seen. */
async function switchRelay(bridge: TestClient, id: MeterId, count: number): Promise<number> {
  const replies = () =>
    bridge.on("MQTT_TELECTRL_REP").filter((m) => JSON.parse(m.payload).id === id).length;
  for (let n = 0; n < count; n++) {
    const before = replies();
    await bridge.publish(
      `MQTT_TELECTRL_${id.slice(-8)}`,
      JSON.stringify({ oprid: oprid(), do1: n % 2 === 0 ? "1" : "0" }),
    );
    await until(() => replies() > before, `the reply to relay command ${n + 1} of ${count}`, 5000)
      .catch(() => {});
  }
  return replies();
}

Deno.test("two fleets with their own meters on one broker keep their connections and answer every command", async () => {
  await using broker = await startMosquitto();
  await using bridge = await TestClient.connect(broker.url);
  await bridge.subscribe("MQTT_TELECTRL_REP");
  // Like two `deno task simulate` processes: 27 and 28 in one, 29 in the other.
  const log = capture();
  const first = await SimulatedFleet.start({
    url: broker.url,
    ids: [meterId(0), meterId(1)],
    timeZone: "UTC",
    metersPerConnection: 1,
    log,
  });
  const second = await SimulatedFleet.start({
    url: broker.url,
    ids: [meterId(2)],
    timeZone: "UTC",
    metersPerConnection: 1,
    log,
  });
  try {
    const answered = await switchRelay(bridge, meterId(0), 10);
    assert.equal(answered, 10, `replies to 10 relay commands; log:\n${log.lines.join("\n")}`);
    assert.equal(first.commandsOf.get(meterId(0)), 10, "each command arrived once");
    assert.deepEqual(
      [...first.connections, ...second.connections].map((
        c,
      ) => [c.client.options.clientId, c.losses]),
      [[`meter-${meterId(0)}`, 0], [`meter-${meterId(1)}`, 0], [`meter-${meterId(2)}`, 0]],
    );
    assert.deepEqual(log.lines, []);
  } finally {
    await Promise.all([first.stop(), second.stop()]);
  }
});

Deno.test("fleets sharing client ids take each other over: the fleet says so", async () => {
  await using broker = await startMosquitto();
  const log = capture();
  const start = (ids: MeterId[]) =>
    SimulatedFleet.start({ url: broker.url, ids, timeZone: "UTC", clientIdPrefix: "same", log });
  // Both connections are named after their first meter: one id for both fleets.
  const first = await start([meterId(0)]);
  const second = await start([meterId(0), meterId(1)]);
  try {
    await until(
      () => log.lines.some((line) => /connections in a row ended within 5 s/.test(line)),
      "the takeover warning",
      20_000,
    );
    assert.ok(log.lines.some((line) => line.includes("same-33B1225950000 and took it over")));
    assert.ok(log.lines.some((line) => /--client-id-prefix/.test(line)));
  } finally {
    await Promise.all([first.stop(), second.stop()]);
  }
});

Deno.test("after the embedded broker restarts, a fleet meter is subscribed before its readings arrive again", async () => {
  const port = freePort();
  const bridgeAccount = { username: "bridge", password: "bridge-secret", clientIdPrefix: "bridge" };
  // The proxy's persistent session, never connected here: every reading's PUBACK is held.
  const start = () =>
    EmbeddedBroker.start({
      name: "internal",
      host: "127.0.0.1",
      port,
      policy: new AccessPolicy(MeterAuthConfig.parse({}), bridgeAccount),
      sessions: [{ clientId: "bridge-proxy", filters: ["MQTT_RT_DATA", "MQTT_ENY_NOW"] }],
      maxAckWaitMs: 3000,
      log: logger("broker", "internal"),
    });
  let broker = await start();
  const id = meterId(0);
  const log = capture();
  const fleet = await SimulatedFleet.start({
    url: `mqtt://127.0.0.1:${port}`,
    ids: [id],
    timeZone: "UTC",
    secondsInterval: 300,
    timeScale: 600,
    appearWithinMs: 0,
    log,
  });
  try {
    await until(() => fleet.published >= 4, "readings waiting for their PUBACK");
    await broker.stop();
    broker = await start();
    await using bridge = await TestClient.connect(`mqtt://127.0.0.1:${port}`, "bridge-test", {
      username: bridgeAccount.username,
      password: bridgeAccount.password,
    });
    await bridge.subscribe(["MQTT_RT_DATA", "MQTT_TELECTRL_REP"]);
    // The bridge takes a meter's reading as the sign that it is back, and switches at once.
    await bridge.waitFor((r) => r.some((m) => m.topic === "MQTT_RT_DATA"), "a reading", 15_000);
    assert.equal(await switchRelay(bridge, id, 1), 1, `the reply; log:\n${log.lines.join("\n")}`);
    assert.equal(fleet.commandsOf.get(id), 1);
    assert.equal(fleet.connections[0]?.losses, 1);
    assert.ok(log.lines.some((line) => line.includes(`meter ${id}: connection lost after`)));
    assert.ok(
      log.lines.some((line) => line.includes(`meter ${id}: connected again as meter-${id}`)),
    );
  } finally {
    await fleet.stop();
    await broker.stop();
  }
});

Deno.test("a fleet logs subscriptions the broker refuses and, verbose, each command and its answer", async () => {
  const port = freePort();
  const other = "33B1225950099" as MeterId;
  const broker = await EmbeddedBroker.start({
    name: "internal",
    host: "127.0.0.1",
    port,
    // The account is bound to another meter: subscriptions to meter 0's commands are refused.
    policy: new AccessPolicy(
      MeterAuthConfig.parse({ accounts: { [other]: { username: "m1", password: "pw" } } }),
      { username: "bridge", password: "bridge-secret", clientIdPrefix: "bridge" },
    ),
    log: logger("broker", "internal"),
  });
  const log = capture();
  const fleet = await SimulatedFleet.start({
    url: `mqtt://127.0.0.1:${port}`,
    username: "m1",
    password: "pw",
    ids: [meterId(0), other],
    metersPerConnection: 2,
    timeZone: "UTC",
    appearWithinMs: 60_000,
    verbose: true,
    log,
  });
  try {
    const refused = log.lines.filter((line) => line.includes("refused the subscription"));
    assert.equal(refused.length, 1, log.lines.join("\n"));
    assert.match(refused[0]!, /MQTT_COMMOD_SET_25950000, .*MQTT_TELECTRL_25950000 \(SUBACK 0x80\)/);
    assert.doesNotMatch(refused[0]!, /_25950099/);
    assert.equal(fleet.connections[0]?.refused.length, 4);
    await using bridge = await TestClient.connect(`mqtt://127.0.0.1:${port}`, "bridge-test", {
      username: "bridge",
      password: "bridge-secret",
    });
    await bridge.subscribe("MQTT_TELECTRL_REP");
    const command = JSON.stringify({ oprid: oprid(), do1: "1" });
    await bridge.publish("MQTT_TELECTRL_25950099", command);
    await bridge.publish("MQTT_TELECTRL_25950099", JSON.stringify({ oprid: "short", do1: "1" }));
    await until(() => fleet.commandsOf.get(other) === 2, "both commands");
    const lines = log.lines.filter((line) => line.startsWith(`meter ${other}: MQTT_TELECTRL`));
    assert.deepEqual(lines, [
      `meter ${other}: MQTT_TELECTRL_25950099 ${command} → MQTT_TELECTRL_REP code 01`,
      `meter ${other}: MQTT_TELECTRL_25950099 ${command} → MQTT_TELEIND 00000000@00000001`,
      `meter ${other}: MQTT_TELECTRL_25950099 {"oprid":"short","do1":"1"} → ignored (oprid not ` +
      "32 characters)",
    ]);
  } finally {
    await fleet.stop();
    await broker.stop();
  }
});

Deno.test("a fleet started with the meters' memory continues their registers, intervals and outputs", async () => {
  await using broker = await startMosquitto();
  await using bridge = await TestClient.connect(broker.url);
  await bridge.subscribe("MQTT_ENY_NOW");
  const [kept, fresh] = [meterId(0), meterId(1)];
  const memory = {
    import_kwh: 5000.25,
    upload_interval_seconds: 60,
    upload_interval_minutes: 1,
    outputs: 1,
    clock_offset_ms: 0,
  };
  const fleet = await SimulatedFleet.start({
    url: broker.url,
    ids: [kept, fresh],
    timeZone: "UTC",
    appearWithinMs: 0,
    memories: { [kept]: memory },
  });
  try {
    const registers = (id: MeterId) =>
      bridge.on("MQTT_ENY_NOW").map((m) => JSON.parse(m.payload)).filter((p) => p.id === id);
    await until(() => registers(kept).length > 0 && registers(fresh).length > 0, "registers");
    const continued = registers(kept)[0].zygsz;
    assert.ok(continued >= memory.import_kwh && continued < memory.import_kwh + 1, continued);
    assert.ok(registers(fresh)[0].zygsz < 1000);
    const memories = fleet.memories();
    assert.deepEqual(Object.keys(memories).sort(), [kept, fresh].sort());
    const keptMemory = memories[kept];
    assert.ok(keptMemory !== undefined);
    assert.deepEqual({ ...keptMemory, import_kwh: 0 }, { ...memory, import_kwh: 0 });
    assert.ok(keptMemory.import_kwh >= continued);
    assert.equal(memories[fresh]?.upload_interval_seconds, 300);
  } finally {
    await fleet.stop();
  }
});
