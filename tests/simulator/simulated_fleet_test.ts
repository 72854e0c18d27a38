/**
 * The simulated fleet on a real Mosquitto: many meters over few
 * connections, first readings within the given window, each meter
 * answering its own commands.
 */
import assert from "node:assert/strict";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { SimulatedFleet } from "../../src/simulator/simulated_fleet.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { until } from "../helpers/wait.ts";

const IDS = Array.from({ length: 60 }, (_, i) => `33B12259${50000 + i}` as MeterId);
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
    const first = bridge.on("MQTT_RT_DATA").filter((m) => JSON.parse(m.payload).id === IDS[7]);
    assert.equal(first.length % 2, 0);
    assert.equal(first[0].payload, first[1].payload);

    const target = IDS[42];
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
  const id = IDS[0];
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
