/**
 * The simulated KPM33B meter on a real Mosquitto, driven by a real MQTT
 * client that plays the bridge: readings it publishes and how it answers
 * commands, including the quirks of real meters.
 */
import assert from "node:assert/strict";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { MeterClock } from "../../src/protocol/meter_time.ts";
import type { SimulatedMeter, SimulatedMeterOptions } from "../../src/simulator/simulated_meter.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { sleep, until } from "../helpers/wait.ts";
import { startMeter } from "../helpers/simulated_meters.ts";

const ID = "33B1225950027" as MeterId;
const TIME_ZONE = "Europe/Vienna";
const COMMOD_SET = "MQTT_COMMOD_SET_25950027";
const SETTIME = "MQTT_SETTIME_25950027";
const REPLY_TOPICS = ["MQTT_COMMOD_SET_REP", "MQTT_COMMOD_READ_REP", "MQTT_METER_TIME_REP"];
const clock = new MeterClock(TIME_ZONE);

/** A fresh 32-character operation id, as the bridge generates them. */
const oprid = () => crypto.randomUUID().replaceAll("-", "");

/** A broker, a simulated meter (not publishing on its own) and a client playing the bridge. */
async function setUp(options: Partial<SimulatedMeterOptions> = {}) {
  const broker = await startMosquitto();
  let bridge: TestClient | undefined;
  let meter: SimulatedMeter | undefined;
  try {
    bridge = await TestClient.connect(broker.url);
    await bridge.subscribe(["MQTT_RT_DATA", "MQTT_ENY_NOW", ...REPLY_TOPICS]);
    meter = await startMeter(broker.url, ID, TIME_ZONE, options);
  } catch (error) {
    await bridge?.[Symbol.asyncDispose]();
    await broker.stop();
    throw error;
  }
  const started = { bridge, meter };
  return {
    ...started,
    /** Payloads the bridge received on a topic, parsed. */
    payloads(topic: string): Record<string, unknown>[] {
      return started.bridge.on(topic).map((m) => JSON.parse(m.payload));
    },
    /** Sends a command to the meter and waits until the meter has recorded it. */
    async command(topic: string, payload: Record<string, unknown>): Promise<void> {
      const before = started.meter.commands.length;
      await started.bridge.publish(topic, JSON.stringify(payload));
      await until(
        () => started.meter.commands.length > before,
        `the meter to record ${topic}`,
        5_000,
      );
    },
    async [Symbol.asyncDispose]() {
      try {
        await started.meter.stop();
        await started.bridge[Symbol.asyncDispose]();
      } finally {
        await broker.stop();
      }
    },
  };
}

const NUMERIC_RT_TAGS = [
  "f",
  ..."abc".split("").flatMap((p) => [`u${p}`, `i${p}`, `p${p}`, `q${p}`, `s${p}`, `pf${p}`]),
  "uab",
  "ubc",
  "uca",
  "zyggl",
  "zwggl",
  "zszgl",
  "zglys",
];

Deno.test("publishInstant publishes an MQTT_RT_DATA reading whose total active power is the sum of the phases", async () => {
  await using env = await setUp({ powerKw: 6 });
  await env.meter.publishInstant();
  await env.bridge.waitFor((r) => r.some((m) => m.topic === "MQTT_RT_DATA"), "MQTT_RT_DATA");

  const [reading] = env.payloads("MQTT_RT_DATA");
  assert.ok(reading !== undefined);
  assert.equal(reading.id, ID);
  assert.match(String(reading.time), /^\d{14}$/);
  assert.equal(reading.isend, "1");
  for (const tag of NUMERIC_RT_TAGS) {
    assert.equal(typeof reading[tag], "number", `${tag} is a number`);
    assert.ok(Number.isFinite(reading[tag]), `${tag} is finite`);
  }
  const { pa, pb, pc, zyggl } = reading as { pa: number; pb: number; pc: number; zyggl: number };
  assert.ok(Math.abs(zyggl - (pa + pb + pc)) <= 1e-3, `zyggl ${zyggl} vs ${pa}+${pb}+${pc}`);
  assert.ok(zyggl > 6 * 0.7 && zyggl < 6 * 1.35, `zyggl ${zyggl} is near 6 kW`);
  assert.ok(Number(reading.f) > 49.9 && Number(reading.f) < 50.1);
  assert.equal(env.bridge.on("MQTT_RT_DATA").length, 1);
});

Deno.test("publishEnergy publishes MQTT_ENY_NOW readings whose import register never decreases", async () => {
  await using env = await setUp({ energyKwh: 1234.5, timeScale: 3600 });
  for (let i = 0; i < 5; i++) {
    await env.meter.publishEnergy();
    // At timeScale 3600 this is two meter-clock minutes: the register grows.
    await sleep(30);
  }
  await env.bridge.waitFor(
    (r) => r.filter((m) => m.topic === "MQTT_ENY_NOW").length >= 5,
    "5x ENY",
  );

  const readings = env.payloads("MQTT_ENY_NOW");
  assert.equal(readings.length, 5);
  for (const reading of readings) {
    assert.equal(reading.id, ID);
    assert.match(String(reading.time), /^\d{14}$/);
    assert.equal(reading.isend, "1");
    assert.equal(typeof reading.zygsz, "number");
  }
  const totals = readings.map((r) => r.zygsz as number);
  const [first = NaN] = totals;
  assert.ok(first >= 1234.5, `starts from the configured register: ${totals}`);
  for (let i = 1; i < totals.length; i++) {
    assert.ok(totals[i]! >= totals[i - 1]!, `zygsz decreased: ${totals}`);
  }
  assert.ok(totals.at(-1)! > first, `zygsz grows with (scaled) time: ${totals}`);
});

Deno.test("with duplicates every reading is sent twice with identical payloads", async () => {
  await using env = await setUp({ duplicates: true });
  await env.meter.publishInstant();
  await env.meter.publishEnergy();
  await env.bridge.waitFor(
    (r) => r.filter((m) => m.topic === "MQTT_ENY_NOW").length >= 2,
    "both energy copies",
  );

  const instant = env.bridge.on("MQTT_RT_DATA").map((m) => m.payload);
  const energy = env.bridge.on("MQTT_ENY_NOW").map((m) => m.payload);
  assert.equal(instant.length, 2);
  assert.equal(instant[0], instant[1]);
  assert.equal(energy.length, 2);
  assert.equal(energy[0], energy[1]);
});

Deno.test("with zero bursts a reading is preceded by an all-zero copy with the same time", async () => {
  await using env = await setUp({ zeroBursts: true });
  await env.meter.publishInstant();
  await env.meter.publishEnergy();
  await env.bridge.waitFor(
    (r) => r.filter((m) => m.topic === "MQTT_ENY_NOW").length >= 2,
    "energy zero copy and reading",
  );

  for (const topic of ["MQTT_RT_DATA", "MQTT_ENY_NOW"]) {
    const readings = env.payloads(topic);
    assert.equal(readings.length, 2, topic);
    const [zero, real] = readings;
    assert.ok(zero !== undefined && real !== undefined);
    assert.deepEqual(Object.keys(zero).sort(), Object.keys(real).sort(), topic);
    assert.equal(zero.id, ID);
    assert.equal(zero.time, real.time);
    assert.equal(zero.isend, "1");
    const numeric = Object.keys(real).filter((k) => typeof real[k] === "number");
    assert.ok(numeric.length > 5, `${topic} has numeric tags`);
    for (const tag of numeric) assert.equal(zero[tag], 0, `${topic} ${tag} is zero`);
    assert.ok(numeric.some((tag) => real[tag] !== 0), `${topic} real reading is not all zero`);
  }
});

Deno.test("COMMOD_SET with a valid seconds-level interval is applied and acknowledged with code 01", async () => {
  await using env = await setUp({ secondsInterval: 300 });
  const id = oprid();
  await env.command(COMMOD_SET, { oprid: id, Cmd: "0000", value: "60", types: "1" });
  await env.bridge.waitFor((r) => r.some((m) => m.topic === "MQTT_COMMOD_SET_REP"), "reply");

  assert.deepEqual(env.payloads("MQTT_COMMOD_SET_REP"), [{ id: ID, oprid: id, code: "01" }]);
  assert.equal(env.meter.secondsInterval, 60);
  assert.equal(env.meter.minutesInterval, 15);
  assert.equal(env.meter.commands.length, 1);
  assert.equal(env.meter.commands[0]?.topic, COMMOD_SET);
  assert.equal(env.meter.commands[0]?.answered, true);
});

Deno.test("COMMOD_SET with Cmd 0001 changes the minutes-level interval", async () => {
  await using env = await setUp({ minutesInterval: 1 });
  const id = oprid();
  await env.command(COMMOD_SET, { oprid: id, Cmd: "0001", value: "15", types: "1" });
  await env.bridge.waitFor((r) => r.some((m) => m.topic === "MQTT_COMMOD_SET_REP"), "reply");

  assert.deepEqual(env.payloads("MQTT_COMMOD_SET_REP"), [{ id: ID, oprid: id, code: "01" }]);
  assert.equal(env.meter.minutesInterval, 15);
  assert.equal(env.meter.secondsInterval, 300);
});

Deno.test("COMMOD_SET with a value the meter does not accept is answered with code 02 and changes nothing", async () => {
  await using env = await setUp();
  const id = oprid();
  await env.command(COMMOD_SET, { oprid: id, Cmd: "0000", value: "45", types: "1" });
  await env.bridge.waitFor((r) => r.some((m) => m.topic === "MQTT_COMMOD_SET_REP"), "reply");

  assert.deepEqual(env.payloads("MQTT_COMMOD_SET_REP"), [{ id: ID, oprid: id, code: "02" }]);
  assert.equal(env.meter.secondsInterval, 300);
  assert.equal(env.meter.minutesInterval, 15);
  assert.equal(env.meter.commands[0]?.answered, true);
});

Deno.test("a command whose oprid is not exactly 32 characters is ignored without any reply", async () => {
  await using env = await setUp();
  const short = oprid().slice(0, 31);
  const long = `${oprid()}0`;
  assert.equal(short.length, 31);
  assert.equal(long.length, 33);
  await env.command(COMMOD_SET, { oprid: short, Cmd: "0000", value: "60", types: "1" });
  await env.command(COMMOD_SET, { oprid: long, Cmd: "0001", value: "5", types: "1" });
  // No reply to a malformed oprid arrives late.
  await sleep(300);

  assert.deepEqual(env.bridge.on("MQTT_COMMOD_SET_REP"), []);
  assert.deepEqual(
    env.meter.commands.map((c) => ({
      topic: c.topic,
      oprid: c.payload.oprid,
      answered: c.answered,
    })),
    [
      { topic: COMMOD_SET, oprid: short, answered: false },
      { topic: COMMOD_SET, oprid: long, answered: false },
    ],
  );
  assert.equal(env.meter.secondsInterval, 300);
  assert.equal(env.meter.minutesInterval, 15);
});

Deno.test("SETTIME sets the clock of a factory-fresh meter, which then shows the time it was given", async () => {
  // A meter whose clock still runs in 2005.
  const offset = Date.UTC(2005, 5, 1, 12) - Date.now();
  await using env = await setUp({ clockOffsetMs: offset });
  assert.ok(env.meter.meterTime().startsWith("2005"), env.meter.meterTime());
  await env.meter.publishInstant();
  await env.bridge.waitFor((r) => r.some((m) => m.topic === "MQTT_RT_DATA"), "reading");
  assert.ok(String(env.payloads("MQTT_RT_DATA")[0]?.time).startsWith("2005"));

  const target = "20260112163900";
  const id = oprid();
  await env.command(SETTIME, { oprid: id, time: target });
  await env.bridge.waitFor((r) => r.some((m) => m.topic === "MQTT_METER_TIME_REP"), "reply");

  assert.deepEqual(env.payloads("MQTT_METER_TIME_REP"), [{ id: ID, oprid: id, code: "01" }]);
  const ahead = clock.instantOf(env.meter.meterTime()) - clock.instantOf(target);
  assert.ok(ahead >= 0 && ahead <= 3000, `meter time ${env.meter.meterTime()} vs ${target}`);
  assert.ok(env.meter.meterTime().startsWith("20260112"), env.meter.meterTime());
});

Deno.test("SETTIME with the current time brings the meter clock within a couple of seconds of real time", async () => {
  await using env = await setUp({ clockOffsetMs: -20 * 365.25 * 86_400_000 });
  assert.ok(env.meter.clockOffsetMs < -19 * 365 * 86_400_000);

  await env.command(SETTIME, { oprid: oprid(), time: clock.meterTimeAt(Date.now()) });
  await env.bridge.waitFor((r) => r.some((m) => m.topic === "MQTT_METER_TIME_REP"), "reply");

  assert.equal(env.payloads("MQTT_METER_TIME_REP")[0]?.code, "01");
  assert.ok(Math.abs(env.meter.clockOffsetMs) <= 2000, `offset ${env.meter.clockOffsetMs} ms`);
  const shown = clock.instantOf(env.meter.meterTime());
  assert.ok(Math.abs(shown - Date.now()) <= 2500, `meter time ${env.meter.meterTime()}`);
});

Deno.test("SETTIME with an invalid time is answered with code 02 and leaves the clock alone", async () => {
  const offset = Date.UTC(2005, 5, 1, 12) - Date.now();
  await using env = await setUp({ clockOffsetMs: offset });
  const id = oprid();
  await env.command(SETTIME, { oprid: id, time: "20261332250000" });
  await env.bridge.waitFor((r) => r.some((m) => m.topic === "MQTT_METER_TIME_REP"), "reply");

  assert.deepEqual(env.payloads("MQTT_METER_TIME_REP"), [{ id: ID, oprid: id, code: "02" }]);
  assert.equal(env.meter.clockOffsetMs, offset);
  assert.ok(env.meter.meterTime().startsWith("2005"));
});

Deno.test("with dropAcks 1 the first command is applied but not answered and the second is answered", async () => {
  await using env = await setUp({ dropAcks: 1 });
  const first = oprid();
  const second = oprid();
  await env.command(COMMOD_SET, { oprid: first, Cmd: "0000", value: "60", types: "1" });
  assert.equal(env.meter.secondsInterval, 60);
  await env.command(COMMOD_SET, { oprid: second, Cmd: "0001", value: "5", types: "1" });
  await env.bridge.waitFor((r) => r.some((m) => m.topic === "MQTT_COMMOD_SET_REP"), "reply");
  // The reply the meter dropped does not arrive late.
  await sleep(300);

  assert.deepEqual(env.payloads("MQTT_COMMOD_SET_REP"), [{ id: ID, oprid: second, code: "01" }]);
  assert.equal(env.meter.minutesInterval, 5);
  assert.deepEqual(
    env.meter.commands.map((c) => [c.payload.oprid, c.answered]),
    [[first, false], [second, true]],
  );
});

Deno.test("COMMOD_READ reports the interval the meter currently uses", async () => {
  await using env = await setUp({ secondsInterval: 300, minutesInterval: 15 });
  await env.command(COMMOD_SET, { oprid: oprid(), Cmd: "0000", value: "30", types: "1" });
  const seconds = oprid();
  const minutes = oprid();
  await env.command("MQTT_COMMOD_READ_25950027", { oprid: seconds, Cmd: "0000" });
  await env.command("MQTT_COMMOD_READ_25950027", { oprid: minutes, Cmd: "0001" });
  await env.bridge.waitFor(
    (r) => r.filter((m) => m.topic === "MQTT_COMMOD_READ_REP").length >= 2,
    "both read replies",
  );

  assert.deepEqual(env.payloads("MQTT_COMMOD_READ_REP"), [
    { id: ID, oprid: seconds, code: "01", Cmd: "0000", value: "30" },
    { id: ID, oprid: minutes, code: "01", Cmd: "0001", value: "15" },
  ]);
});

Deno.test("with autoPublish the meter publishes on its own at its scaled intervals until stopped", async () => {
  await using env = await setUp({
    autoPublish: true,
    secondsInterval: 30,
    minutesInterval: 1,
    timeScale: 300, // every 100 ms and 200 ms
  });
  await env.bridge.waitFor(
    (r) =>
      r.filter((m) => m.topic === "MQTT_RT_DATA").length >= 2 &&
      r.filter((m) => m.topic === "MQTT_ENY_NOW").length >= 2,
    "readings published by the meter itself",
  );

  await env.meter.stop();
  // Deliveries in flight at stop() land first.
  await sleep(100);
  const seen = env.bridge.received.length;
  await sleep(500);
  assert.equal(env.bridge.received.length, seen, "nothing is published after stop()");
});

Deno.test("a command payload that is not a JSON object is ignored, and the meter keeps answering", async () => {
  await using env = await setUp();
  for (const payload of ["null", "[1]", "7", "not json"]) {
    await env.bridge.publish(COMMOD_SET, payload);
  }
  await env.command(COMMOD_SET, { oprid: oprid(), Cmd: "0000", value: "60", types: "1" });
  await env.bridge.waitFor((r) => r.some((m) => m.topic === "MQTT_COMMOD_SET_REP"), "a reply");
  assert.equal(env.meter.commands.length, 1);
  assert.equal(env.meter.secondsInterval, 60);
});
