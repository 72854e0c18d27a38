import assert from "node:assert/strict";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { METER_COMMANDS } from "../../src/protocol/commands.ts";
import { MeterModel } from "../../src/simulator/meter_model.ts";

const ID = "33B1225950027" as MeterId;
const OPRID = "0123456789abcdef0123456789abcdef";
const T0 = Date.UTC(2026, 11, 6, 12);

Deno.test("a model subscribes to the eight command topics of its last 8 id characters", () => {
  const model = new MeterModel({ id: ID, timeZone: "UTC" });
  assert.deepEqual(model.commandTopics(), METER_COMMANDS.map((n) => `MQTT_${n}_25950027`));
});

Deno.test("an interval set is applied and acknowledged; an invalid one is refused", () => {
  const model = new MeterModel({ id: ID, timeZone: "UTC" });
  const ok = model.command("MQTT_COMMOD_SET_25950027", { oprid: OPRID, Cmd: "0000", value: "30" });
  assert.deepEqual(ok, {
    reply: { topic: "MQTT_COMMOD_SET_REP", payload: { id: ID, oprid: OPRID, code: "01" } },
    intervalsChanged: true,
    outputsChanged: false,
  });
  assert.equal(model.secondsInterval, 30);
  const refused = model.command("MQTT_COMMOD_SET_25950027", {
    oprid: OPRID,
    Cmd: "0000",
    value: "45",
  });
  assert.equal(refused.reply?.payload.code, "02");
  assert.equal(model.secondsInterval, 30);
});

Deno.test("a wrong-length oprid gets no reply, as on a real meter", () => {
  const model = new MeterModel({ id: ID, timeZone: "UTC" });
  const outcome = model.command("MQTT_SETTIME_25950027", {
    oprid: "short",
    time: "20261206120000",
  });
  assert.equal(outcome.reply, undefined);
});

Deno.test("the clock shows the time it was set to; the energy register only grows", () => {
  const model = new MeterModel(
    { id: ID, timeZone: "UTC", clockOffsetMs: -20 * 365 * 86_400_000, timeScale: 3600 },
    T0,
  );
  assert.ok(model.meterTime(T0).startsWith("200"));
  model.command("MQTT_SETTIME_25950027", { oprid: OPRID, time: "20261206120000" }, T0);
  assert.equal(model.meterTime(T0 + 1000), "20261206120001");
  const first = model.energy(T0 + 1000).zygsz ?? NaN;
  const second = model.energy(T0 + 2000).zygsz ?? NaN;
  assert.ok(second > first, `${second} > ${first}`);
});

Deno.test("a model keeps what a real meter keeps across a restart: registers, intervals, DO1, clock", () => {
  const model = new MeterModel({ id: ID, timeZone: "UTC", timeScale: 3600 }, T0);
  model.command("MQTT_COMMOD_SET_25950027", { oprid: OPRID, Cmd: "0000", value: "30" }, T0);
  model.command("MQTT_COMMOD_SET_25950027", { oprid: OPRID, Cmd: "0001", value: "5" }, T0);
  model.command("MQTT_TELECTRL_25950027", { oprid: OPRID, do1: "1" }, T0);
  model.command("MQTT_SETTIME_25950027", { oprid: OPRID, time: "20261206120500" }, T0);
  const published = model.energy(T0 + 1000).zygsz ?? NaN;
  // The register keeps counting between readings: what is kept is at least what was published.
  const memory = model.memory(T0 + 2000);
  assert.ok(memory.import_kwh > published, `${memory.import_kwh} > ${published}`);
  assert.deepEqual({ ...memory, import_kwh: 0 }, {
    import_kwh: 0,
    upload_interval_seconds: 30,
    upload_interval_minutes: 5,
    outputs: 1,
    clock_offset_ms: 300_000,
  });

  const T1 = T0 + 86_400_000;
  const restarted = new MeterModel(
    { id: ID, timeZone: "UTC", clockOffsetMs: -1e12, energyKwh: 1, memory },
    T1,
  );
  assert.equal(restarted.secondsInterval, 30);
  assert.equal(restarted.minutesInterval, 5);
  assert.equal(restarted.outputs, 1);
  assert.equal(restarted.meterTime(T1), "20261207120500");
  const next = restarted.energy(T1 + 1000).zygsz ?? NaN;
  assert.ok(next >= published && next - memory.import_kwh < 0.01, `${next} after ${published}`);
});

Deno.test("a reading for an earlier time never lowers the register", () => {
  const model = new MeterModel({ id: ID, timeZone: "UTC", energyKwh: 100 }, T0);
  const later = model.energy(T0 + 3_600_000).zygsz ?? NaN;
  assert.ok((model.energy(T0).zygsz ?? NaN) >= later);
  assert.ok(model.memory(T0).import_kwh >= later);
});
