/**
 * The add-on's entry (src/addon/start.ts) as the add-on image runs it, against
 * a fake Supervisor API and a stand-in /data: it writes a configuration the
 * bridge accepts, and the bridge it starts bridges a meter's reading to the
 * broker the Supervisor's MQTT service named (a real Mosquitto with a
 * password). Without a broker or a meter password it stops with what to do.
 */
import assert from "node:assert/strict";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { SimulatedMeter } from "../../src/simulator/simulated_meter.ts";
import { fakeSupervisor, passwordMosquitto, runAddon, SERVICE_ACCOUNT } from "../helpers/addon.ts";
import { runTaskStart } from "../helpers/bridge.ts";
import { startFlags } from "../helpers/deno_tasks.ts";
import { TestClient } from "../helpers/mqtt_client.ts";

const PROJECT = new URL("../../", import.meta.url).pathname;
const ENTRY = {
  program: Deno.execPath(),
  args: ["run", ...startFlags(), "src/addon/start.ts"],
  cwd: PROJECT,
};
const TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
const METER = "33B1225950027" as MeterId;
const OPTIONS = {
  meter_password: "meters ${not a reference}",
  timezone: "Europe/Vienna",
  meter_names: [{ id: METER, name: "Main panel" }],
  relay_control: [],
  log_level: "info",
  config_overrides: "logging: {format: json}",
};

Deno.test("the add-on entry configures the bridge from options.json and the MQTT service, and it bridges to that broker", async () => {
  await using broker = await passwordMosquitto();
  await using supervisor = fakeSupervisor(TOKEN, {
    host: "127.0.0.1",
    port: broker.port,
    ssl: false,
    protocol: "3.1.1",
    ...SERVICE_ACCOUNT,
  });
  await using central = await TestClient.connect(broker.url, undefined, SERVICE_ACCOUNT);
  await central.subscribe(["kpm33b/#", "homeassistant/#"]);
  await using addon = await runAddon(ENTRY, OPTIONS, supervisor.url, { SUPERVISOR_TOKEN: TOKEN });
  await addon.listening();

  assert.deepEqual(supervisor.requests, [
    { path: "/services/mqtt", authorization: `Bearer ${TOKEN}` },
  ]);
  assert.equal((await Deno.stat(addon.configPath)).mode! & 0o777, 0o600, "it holds passwords");
  const check = await runTaskStart(["--check-config", "--config", addon.configPath]);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, new RegExp(`central broker:  mqtt://127\\.0\\.0\\.1:${broker.port}`));
  assert.match(check.stdout, /meter time zone: Europe\/Vienna/);

  const meter = await SimulatedMeter.start({
    url: `mqtt://127.0.0.1:${addon.metersPort}`,
    id: METER,
    username: "meter",
    password: OPTIONS.meter_password,
    timeZone: "Europe/Vienna",
    autoPublish: false,
  });
  try {
    await meter.publishInstant();
    await central.waitFor(
      (received) => received.some((m) => m.topic === `kpm33b/${METER}/seconds`),
      "the meter's reading on Home Assistant's broker",
      30_000,
    );
  } finally {
    await meter.stop();
  }
  await central.waitFor(
    (received) =>
      received.some((m) =>
        m.topic.startsWith("homeassistant/") && m.payload.includes("Main panel")
      ),
    "the meter's discovery under its name from the options",
    30_000,
  );
});

Deno.test("without Home Assistant's MQTT broker the add-on stops, saying to install Mosquitto", async () => {
  await using supervisor = fakeSupervisor(TOKEN, undefined);
  await using addon = await runAddon(ENTRY, OPTIONS, supervisor.url, { SUPERVISOR_TOKEN: TOKEN });
  assert.equal(await addon.status, 78, addon.output());
  assert.match(addon.output(), /no MQTT broker \(Supervisor: Service not enabled\)/);
  assert.match(addon.output(), /install and start the Mosquitto broker add-on/);
});

Deno.test("without a meter password, or with a refused token, the add-on stops with what to do", async () => {
  await using supervisor = fakeSupervisor(TOKEN, { host: "127.0.0.1", port: 1883 });
  {
    await using addon = await runAddon(
      ENTRY,
      { ...OPTIONS, meter_password: "" },
      supervisor.url,
      { SUPERVISOR_TOKEN: TOKEN },
    );
    assert.equal(await addon.status, 78, addon.output());
    assert.match(addon.output(), /option meter_password is empty: set the password the meters/);
  }
  {
    await using addon = await runAddon(ENTRY, OPTIONS, supervisor.url, {
      SUPERVISOR_TOKEN: "0".repeat(32),
    });
    assert.equal(await addon.status, 69, addon.output());
    assert.match(addon.output(), /the Supervisor refused the add-on's token/);
  }
});
