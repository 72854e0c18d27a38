/**
 * Home Assistant integration and operations end to end: the real bridge as a
 * subprocess (all workers, HTTP endpoint on), two real Mosquitto brokers and
 * simulated meters. Home Assistant itself is played by an MQTT client that
 * reads discovery and announces `online` the way Home Assistant does.
 */
import assert from "node:assert/strict";
import { ApiResponse } from "../../src/protocol/bridge_api.ts";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { MeterStatus } from "../../src/protocol/meter_status.ts";
import { BridgeInfo, IoPayload } from "../../src/protocol/topics.ts";
import type { SimulatedMeter, SimulatedMeterOptions } from "../../src/simulator/simulated_meter.ts";
import { startBridge } from "../helpers/bridge.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { type Received, TestClient } from "../helpers/mqtt_client.ts";
import { freePort } from "../helpers/ports.ts";
import { sleep, until } from "../helpers/wait.ts";
import { startMeter } from "../helpers/simulated_meters.ts";

const TIME_ZONE = "Europe/Vienna";
const A = "33B1225950027" as MeterId;
const B = "33B1225950028" as MeterId;
const C = "33B1225950029" as MeterId;

function bridgeConfig(internal: string, central: string, httpPort: number, meters: string): string {
  return `internal_broker: { url: "${internal}", client_id: it-bridge }
central_broker: { url: "${central}", client_id: it-bridge }
meters:
  timezone: ${TIME_ZONE}
  ack_timeout_seconds: 2
  status_interval_seconds: 1
${meters}
http: { host: 127.0.0.1, port: ${httpPort} }
logging: { format: json, level: info, stats_interval_seconds: 0 }
`;
}

/**
 * Brokers, the bridge, a central client playing Home Assistant, and simulated
 * meters. `retained` messages are on central before the bridge starts.
 */
async function setUp(meters = "", retained: ReadonlyArray<readonly [string, string]> = []) {
  const internal = await startMosquitto();
  const central = await startMosquitto();
  if (retained.length > 0) {
    await using before = await TestClient.connect(central.url);
    for (const [topic, payload] of retained) {
      await before.publish(topic, payload, { qos: 1, retain: true });
    }
  }
  const httpPort = freePort();
  const yaml = (text: string) => bridgeConfig(internal.url, central.url, httpPort, text);
  const bridge = await startBridge(yaml(meters));
  const ha = await TestClient.connect(central.url);
  await ha.subscribe(["kpm33b/#", "homeassistant/#"]);
  await ha.waitFor(
    (r) => r.some((m) => m.topic === "kpm33b/bridge/state" && m.payload === "online"),
    "bridge/state online",
  );
  const simulated: SimulatedMeter[] = [];
  return {
    bridge,
    ha,
    central,
    http: `http://127.0.0.1:${httpPort}`,
    async meter(id: MeterId, options: Partial<SimulatedMeterOptions> = {}) {
      const meter = await startMeter(internal.url, id, TIME_ZONE, options);
      simulated.push(meter);
      return meter;
    },
    /** Rewrites config.yaml with other `meters` lines (the bridge reloads it). */
    async rewrite(text: string) {
      await Deno.writeTextFile(bridge.configPath, yaml(text) + `state_dir: ${stateDir()}\n`);
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(simulated.map((meter) => meter.stop()));
      await ha[Symbol.asyncDispose]();
      await bridge[Symbol.asyncDispose]();
      await internal.stop();
      await central.stop();
    },
  };

  function stateDir(): string {
    return bridge.configPath.replace(/config\.yaml$/, "state");
  }
}

type Env = Awaited<ReturnType<typeof setUp>>;

const configTopic = (component: string, id: MeterId, key: string) =>
  `homeassistant/${component}/kpm33b_${id}/${key}/config`;

const isMeterConfig = (topic: string, id: MeterId) =>
  topic.startsWith("homeassistant/") && topic.includes(`/kpm33b_${id}/`);

/** Waits for a message on `topic` satisfying `predicate`; returns the latest such message. */
async function next(
  env: Env,
  topic: string,
  predicate: (message: Received) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<Received> {
  await env.ha.waitFor((r) => r.some((m) => m.topic === topic && predicate(m)), topic, timeoutMs);
  return env.ha.on(topic).findLast(predicate)!;
}

/** Sends a bridge API request and returns its response (matched by transaction, or the next one). */
async function request(env: Env, action: string, body: Record<string, unknown> | string) {
  const transaction = crypto.randomUUID();
  const payload = typeof body === "string" ? body : JSON.stringify({ ...body, transaction });
  const topic = `kpm33b/bridge/response/${action}`;
  const before = env.ha.on(topic).length;
  await env.ha.publish(`kpm33b/bridge/request/${action}`, payload);
  await env.ha.waitFor(
    (r) =>
      r.filter((m) => m.topic === topic).slice(before).some((m) =>
        typeof body === "string" || m.payload.includes(transaction)
      ),
    topic,
    20_000,
  );
  const response = env.ha.on(topic).slice(before).find((m) =>
    typeof body === "string" || m.payload.includes(transaction)
  )!;
  const parsed = ApiResponse.parse(JSON.parse(response.payload));
  if (typeof body !== "string") assert.equal(parsed.transaction, transaction);
  return parsed;
}

Deno.test("discovery: exact configs, re-sent when Home Assistant comes online; availability follows silence", async () => {
  await using env = await setUp(`  availability_timeout_seconds: 3
  names:
    ${A}: Main board`);
  const meter = await env.meter(A);
  await meter.publishInstant();

  const device = {
    identifiers: [`kpm33b_${A}`],
    name: "Main board",
    manufacturer: "Compere",
    model: "KPM33B",
    serial_number: A,
    via_device: "kpm33b_bridge",
  };
  const common = {
    availability: [{ topic: "kpm33b/bridge/state" }, { topic: `kpm33b/${A}/availability` }],
    availability_mode: "all",
    device,
    origin: { name: "kpm33b-bridge", sw_version: "0.1.0" },
  };
  const power = await next(env, configTopic("sensor", A, "power"));
  assert.deepEqual(JSON.parse(power.payload), {
    name: "Power",
    unique_id: `kpm33b_${A}_power`,
    object_id: `kpm33b_${A.toLowerCase()}_power`,
    default_entity_id: `sensor.kpm33b_${A.toLowerCase()}_power`,
    state_topic: `kpm33b/${A}/seconds`,
    value_template: "{{ value_json.active_power }}",
    unit_of_measurement: "kW",
    device_class: "power",
    state_class: "measurement",
    suggested_display_precision: 3,
    expire_after: 3,
    ...common,
  });
  const energy = await next(env, configTopic("sensor", A, "energy"));
  assert.deepEqual(JSON.parse(energy.payload), {
    name: "Energy",
    unique_id: `kpm33b_${A}_energy`,
    object_id: `kpm33b_${A.toLowerCase()}_energy`,
    default_entity_id: `sensor.kpm33b_${A.toLowerCase()}_energy`,
    state_topic: `kpm33b/${A}/minutes`,
    value_template: "{{ value_json.active_energy }}",
    unit_of_measurement: "kWh",
    device_class: "energy",
    state_class: "total_increasing",
    suggested_display_precision: 2,
    expire_after: 150,
    ...common,
  });
  // Only these two entities for a default meter.
  const configs = () => env.ha.received.filter((m) => isMeterConfig(m.topic, A));
  assert.deepEqual([...new Set(configs().map((m) => m.topic))].sort(), [
    configTopic("sensor", A, "energy"),
    configTopic("sensor", A, "power"),
  ]);
  // Retained: a client connecting later (Home Assistant after a restart) gets them.
  await using late = await TestClient.connect(env.central.url);
  await late.subscribe(`homeassistant/+/kpm33b_${A}/+/config`);
  await late.waitFor((r) => r.filter((m) => m.retain).length === 2, "retained configs");

  await next(env, `kpm33b/${A}/availability`, (m) => m.payload === "online");

  const before = env.ha.on(configTopic("sensor", A, "power")).length;
  await env.ha.publish("homeassistant/status", "online");
  await env.ha.waitFor(
    (r) => r.filter((m) => m.topic === configTopic("sensor", A, "power")).length > before,
    "discovery re-sent after homeassistant/status online",
  );
  assert.equal(env.ha.on(configTopic("sensor", A, "power")).at(-1)!.payload, power.payload);
  // Anything else on the status topic is not a reason to re-send.
  const resent = env.ha.on(configTopic("sensor", A, "power")).length;
  await env.ha.publish("homeassistant/status", "offline");
  // The status "offline" re-sends nothing.
  await sleep(500);
  assert.equal(env.ha.on(configTopic("sensor", A, "power")).length, resent);

  // Silent for longer than the timeout (3 s): offline, retained; a reading brings it back.
  const silentSince = Date.now();
  await next(env, `kpm33b/${A}/availability`, (m) => m.payload === "offline", 8000);
  const silentMs = Date.now() - silentSince;
  assert.ok(silentMs >= 1500, `offline after ${silentMs} ms`);
  const offlineAt = env.ha.on(`kpm33b/${A}/availability`).length;
  await meter.publishInstant();
  await env.ha.waitFor(
    (r) =>
      r.filter((m) => m.topic === `kpm33b/${A}/availability`).slice(offlineAt)
        .some((m) => m.payload === "online"),
    "online again after a reading",
  );
});

Deno.test("a meter whose first message is an all-zero burst is discovered with its first real reading", async () => {
  await using env = await setUp();
  const meter = await env.meter(A, { zeroBursts: true });
  await meter.publishInstant();
  const power = await next(env, configTopic("sensor", A, "power"));
  assert.equal(JSON.parse(power.payload).unique_id, `kpm33b_${A}_power`);
});

Deno.test("disabling a field or excluding a meter removes its entities (empty retained config)", async () => {
  await using env = await setUp("  fields: [current]");
  const meter = await env.meter(A);
  await meter.publishInstant();
  const current = configTopic("sensor", A, "current_l1");
  const currentConfig = JSON.parse((await next(env, current)).payload);
  assert.equal(currentConfig.unique_id, `kpm33b_${A}_current_l1`);
  assert.equal(currentConfig.value_template, "{{ value_json.current_l1 }}");
  assert.equal(currentConfig.unit_of_measurement, "A");

  await env.rewrite("  fields: []");
  await next(env, current, (m) => m.payload === "");
  for (const key of ["current_l2", "current_l3"]) {
    await next(env, configTopic("sensor", A, key), (m) => m.payload === "");
  }
  await using late = await TestClient.connect(env.central.url);
  await late.subscribe(`homeassistant/+/kpm33b_${A}/+/config`);
  // All retained configurations arrive; no cleared one among them.
  await sleep(500);
  assert.deepEqual(late.received.map((m) => m.topic).sort(), [
    configTopic("sensor", A, "energy"),
    configTopic("sensor", A, "power"),
  ]);

  await env.rewrite(`  exclude: [${A}]`);
  await next(env, configTopic("sensor", A, "power"), (m) => m.payload === "");
  await next(env, configTopic("sensor", A, "energy"), (m) => m.payload === "");
});

Deno.test("relay: ON/OFF round trip through MQTT_TELECTRL, state from the reply and MQTT_TELEIND, failures reported", async () => {
  await using env = await setUp(`  relay_control: [${A}, ${B}]
  command_retries: 0`);
  const meter = await env.meter(A);
  const silent = await env.meter(B, { dropAcks: 1000 });
  const refused = await env.meter(C);
  for (const m of [meter, silent, refused]) await m.publishInstant();

  const switchConfig = JSON.parse((await next(env, configTopic("switch", A, "relay"))).payload);
  assert.equal(switchConfig.command_topic, `kpm33b/${A}/relay/set`);
  assert.equal(switchConfig.qos, 1);
  assert.equal(switchConfig.state_topic, `kpm33b/${A}/relay`);
  assert.equal(switchConfig.unique_id, `kpm33b_${A}_relay`);
  await until(() => meter.commands.length >= 3, "the meter's configuration", 10_000);

  await env.ha.publish(`kpm33b/${A}/relay/set`, "ON");
  const result = await next(env, `kpm33b/${A}/relay/result`);
  assert.deepEqual(JSON.parse(result.payload), { status: "ok", data: { id: A, state: "ON" } });
  const telectrl = meter.commands.find((c) => c.topic === "MQTT_TELECTRL_25950027");
  assert.equal(telectrl?.payload.do1, "1");
  assert.equal((telectrl?.payload.oprid as string).length, 32);
  await next(env, `kpm33b/${A}/relay`, (m) => m.payload === "ON");
  assert.equal(meter.outputs & 1, 1);
  // The meter reports its outputs (MQTT_TELEIND): I/O topic and its binary sensors.
  const io = IoPayload.parse(JSON.parse((await next(env, `kpm33b/${A}/io`)).payload));
  assert.equal(io.do1, "ON");
  const di1 = JSON.parse((await next(env, configTopic("binary_sensor", A, "di1"))).payload);
  assert.equal(di1.state_topic, `kpm33b/${A}/io`);
  assert.equal(di1.value_template, "{{ value_json.di1 }}");

  await env.ha.publish(`kpm33b/${A}/relay/set`, "OFF");
  await next(env, `kpm33b/${A}/relay`, (m) => m.payload === "OFF");

  assert.equal(meter.outputs & 1, 0);

  // A meter that never acknowledges: the failure is reported, and shown in its status.
  await env.ha.publish(`kpm33b/${B}/relay/set`, "ON");
  const failed = JSON.parse(
    (await next(env, `kpm33b/${B}/relay/result`, () => true, 15_000)).payload,
  );
  assert.equal(failed.status, "error");
  assert.match(
    failed.error,
    /relay DO1 on: no acknowledgement after 1 attempt; sent, not acknowledged: the relay may have switched/,
  );
  await next(env, `kpm33b/${B}/status`, (m) => /relay DO1 on/.test(m.payload));

  // A meter not on the allow-list is never switched.
  await env.ha.publish(`kpm33b/${C}/relay/set`, "ON");
  const denied = JSON.parse((await next(env, `kpm33b/${C}/relay/result`)).payload);
  assert.match(denied.error, /relay control of 33B1225950029 is off/);
  assert.equal(refused.commands.filter((c) => c.topic.startsWith("MQTT_TELECTRL_")).length, 0);
  assert.equal(env.ha.on(configTopic("switch", C, "relay")).length, 0);
});

Deno.test("a retained relay command found at start is ignored, with a warning", async () => {
  const announcement = JSON.stringify({
    id: A,
    model: "KPM33B",
    first_seen: new Date().toISOString(),
  });
  // The meter is known from before, so only the retain flag keeps the command from going out.
  await using env = await setUp(`  relay_control: [${A}]`, [
    [`kpm33b/discovery/${A}`, announcement],
    [`kpm33b/${A}/relay/set`, "ON"],
  ]);
  await env.bridge.waitForLog(
    (l) => String(l.message).startsWith("Ignoring a retained"),
    "the retained relay command warning",
  );
  const meter = await env.meter(A);
  await meter.publishInstant();
  await until(() => meter.commands.length >= 3, "the meter's configuration", 10_000);
  // The retained relay command is never sent.
  await sleep(500);
  assert.deepEqual(meter.commands.filter((c) => c.topic.startsWith("MQTT_TELECTRL_")), []);
  assert.equal(env.ha.on(`kpm33b/${A}/relay/result`).length, 0);
});

/** What Home Assistant shows for an entity, from its config and its state topic's payload. */
function entityState(config: Record<string, string>, payload: string): string {
  if (config.payload_on !== undefined) {
    return payload === config.payload_on ? "on" : payload === config.payload_off ? "off" : "?";
  }
  const [, field = ""] = /^\{\{ value_json\.([a-z_]+) \}\}$/.exec(config.value_template ?? "") ??
    [];
  return String(JSON.parse(payload)[field]);
}

Deno.test("bridge device: its entities read the bridge's retained topics; its button reloads the configuration", async () => {
  await using env = await setUp();
  const meter = await env.meter(A);
  await meter.publishInstant();
  const power = JSON.parse((await next(env, configTopic("sensor", A, "power"))).payload);
  await next(env, "kpm33b/bridge/info", (m) => JSON.parse(m.payload).meters_online === 1);

  // Home Assistant starting later: retained configurations, then the retained state of each.
  await using late = await TestClient.connect(env.central.url);
  await late.subscribe("homeassistant/+/kpm33b_bridge/+/config");
  await late.waitFor((r) => r.filter((m) => m.retain).length === 5, "retained bridge configs");
  const configs = new Map(late.received.map((m) => [m.topic, JSON.parse(m.payload)]));
  const bridgeConfig = (component: string, key: string) =>
    configs.get(`homeassistant/${component}/kpm33b_bridge/${key}/config`)!;
  for (const [topic, config] of configs) {
    // The meter's device is connected through this one.
    assert.deepEqual(config.device.identifiers, [power.device.via_device], topic);
    assert.equal(config.device.name, "KPM33B Bridge");
    assert.equal(config.device.sw_version, "0.1.0");
    assert.equal(config.default_entity_id, `${topic.split("/")[1]}.${config.object_id}`);
  }
  const states = new Map<string, string>();
  for (const [topic, config] of configs) {
    const read = [
      config.state_topic,
      ...(config.availability ?? []).map((a: { topic: string }) => a.topic),
    ]
      .filter((t) => t !== undefined);
    if (read.length === 0) continue;
    await using reader = await TestClient.connect(env.central.url);
    await reader.subscribe(read);
    await reader.waitFor(
      (r) => read.every((t) => r.some((m) => m.topic === t && m.retain)),
      `retained ${read.join(", ")}`,
    );
    for (const availability of config.availability ?? []) {
      assert.equal(reader.on(availability.topic).at(-1)!.payload, "online", topic);
    }
    if (config.state_topic !== undefined) {
      states.set(
        topic.split("/")[3] ?? topic,
        entityState(config, reader.first(config.state_topic).payload),
      );
    }
  }
  assert.deepEqual(Object.fromEntries(states), {
    connection_state: "on",
    version: "0.1.0",
    meters_online: "1",
    meters_known: "1",
  });

  // Pressing the button: Home Assistant publishes payload_press on the command topic.
  const button = bridgeConfig("button", "reload_config");
  assert.equal(button.qos, 1);
  const press = async () => {
    const response = "kpm33b/bridge/response/config/reload";
    const before = env.ha.on(response).length;
    await env.ha.publish(button.command_topic, button.payload_press, { qos: button.qos });
    await env.ha.waitFor((r) => r.filter((m) => m.topic === response).length > before, response);
    return ApiResponse.parse(JSON.parse(env.ha.on(response)[before]!.payload));
  };
  assert.deepEqual(await press(), { status: "ok", data: { changed: false } });
  await env.rewrite(`  names:\n    ${A}: Renamed`);
  assert.deepEqual(await press(), { status: "ok", data: { changed: true } });
  await next(env, configTopic("sensor", A, "power"), (m) => m.payload.includes('"Renamed"'));

  // Home Assistant restarting gets the bridge device again, as the meters.
  const version = "homeassistant/sensor/kpm33b_bridge/version/config";
  const sent = env.ha.on(version).length;
  await env.ha.publish("homeassistant/status", "online");
  await env.ha.waitFor((r) => r.filter((m) => m.topic === version).length > sent, version);
});

Deno.test("bridge API: every action and its error path; info, meters and status retained", async () => {
  await using env = await setUp();
  const meter = await env.meter(A);
  await meter.publishInstant();
  await next(env, `kpm33b/discovery/${A}`);
  await until(() => meter.commands.length >= 3, "the meter's configuration", 10_000);

  const health = await request(env, "health", {});
  assert.equal(health.status, "ok");
  assert.equal(health.data.healthy, true);
  assert.deepEqual(health.data.brokers, { internal: true, central: true });
  assert.equal(health.data.meters, 1);

  const sync = await request(env, "meter/sync_time", { id: A });
  assert.equal(sync.status, "ok");
  assert.match(String(sync.data.time), /^\d{14}$/);
  assert.ok(meter.commands.filter((c) => c.topic.startsWith("MQTT_SETTIME_")).length >= 2);

  const set = await request(env, "meter/set_interval", { id: A, seconds: 30, minutes: 5 });
  assert.deepEqual(set.data, { id: A, seconds: 30, minutes: 5 });
  assert.equal(meter.secondsInterval, 30);
  assert.equal(meter.minutesInterval, 5);
  const read = await request(env, "meter/read_interval", { id: A });
  assert.deepEqual(read.data, { id: A, seconds: 30, minutes: 5 });

  const errors = [
    [await request(env, "meter/set_interval", { id: A, seconds: 45 }), /^seconds: .*45/],
    [await request(env, "meter/sync_time", { id: "33B0000000000" }), /not known to this bridge/],
    [await request(env, "meter/read_interval", {}), /^id: /],
    [await request(env, "meter/sync_time", "{not json"), /not JSON/],
    [await request(env, "meter/fly", {}), /unknown action "meter\/fly"/],
  ] as const;
  for (const [response, message] of errors) {
    assert.equal(response.status, "error");
    assert.match(response.error!, message);
  }

  const reload = await request(env, "config/reload", {});
  assert.deepEqual(reload.data, { changed: false });
  await env.rewrite(`  names:\n    ${A}: Renamed`);
  const renamed = await request(env, "config/reload", {});
  assert.equal(renamed.status, "ok");
  await next(env, configTopic("sensor", A, "power"), (m) => m.payload.includes('"Renamed"'));
  await Deno.writeTextFile(env.bridge.configPath, "meters:\n  upload_interval_seconds: 45\n");
  const invalid = await request(env, "config/reload", {});
  assert.equal(invalid.status, "error");
  assert.match(invalid.error!, /upload_interval_seconds.*45 is not one of/);

  const info = BridgeInfo.parse(JSON.parse((await next(env, "kpm33b/bridge/info")).payload));
  assert.equal(info.version, "0.1.0");
  assert.equal(info.meters, 1);
  assert.equal((info.config.topics as { root: string }).root, "kpm33b");
  const status = MeterStatus.parse(
    JSON.parse(
      (await next(env, `kpm33b/${A}/status`, (m) => m.payload.includes('"Renamed"'))).payload,
    ),
  );
  assert.equal(status.availability, "online");
  assert.equal(status.readings, 1);
  assert.equal(status.configuration, "configured");
  // What the meter acknowledged last: the request's intervals, until the next daily configuration.
  assert.deepEqual(status.intervals, { seconds: 30, minutes: 5 });
  assert.ok(status.last_ack_latency_ms !== null && status.last_ack_latency_ms < 2000);
  assert.equal(typeof status.values.active_power, "number");
  const meters = MeterStatus.array().parse(
    JSON.parse((await next(env, "kpm33b/bridge/meters")).payload),
  );
  assert.deepEqual(meters.map((m) => m.id), [A]);
  // The bridge is still up after all of it.
  assert.equal((await request(env, "health", {})).status, "ok");
});

/** The value of one sample line of a Prometheus text exposition, or undefined. */
function sample(metrics: string, series: string): number | undefined {
  const line = metrics.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function metrics(env: Env): Promise<string> {
  const response = await fetch(`${env.http}/metrics`);
  assert.equal(response.status, 200);
  return await response.text();
}

Deno.test("HTTP: /healthz, /readyz and /metrics values change as readings flow", async () => {
  await using env = await setUp();
  const health = await fetch(`${env.http}/healthz`);
  assert.equal(await health.text(), "ok\n");
  let ready: Response | undefined;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    ready = await fetch(`${env.http}/readyz`);
    const body = await ready.text();
    if (ready.status === 200) {
      assert.equal(body, "ready\n");
      break;
    }
    await sleep(200);
  }
  assert.equal(ready?.status, 200);

  const received = 'kpm33b_readings_received_total{topic="MQTT_RT_DATA"}';
  const published = 'kpm33b_readings_published_total{level="seconds"}';
  const online = `kpm33b_meter_online{meter="${A}"}`;
  const first = await metrics(env);
  assert.equal(sample(first, received) ?? 0, 0);
  assert.equal(sample(first, 'kpm33b_broker_connected{broker="central"}'), 1);

  const meter = await env.meter(A);
  for (let i = 0; i < 3; i++) {
    await meter.publishInstant();
    await sleep(1100); // one reading per meter-clock second
  }
  let text = "";
  const until3 = Date.now() + 10_000;
  while (Date.now() < until3) {
    text = await metrics(env);
    if (
      sample(text, published) === 3 &&
      (sample(text, "kpm33b_command_ack_latency_seconds_count") ?? 0) >= 2
    ) break;
    await sleep(250);
  }
  assert.equal(sample(text, received), 3);
  assert.equal(sample(text, published), 3);
  assert.equal(sample(text, online), 1);
  assert.ok((sample(text, `kpm33b_meter_last_seen_timestamp_seconds{meter="${A}"}`) ?? 0) > 1.7e9);
  assert.ok((sample(text, "kpm33b_command_ack_latency_seconds_count") ?? 0) >= 2, text);
  assert.equal(sample(text, "kpm33b_meters"), 1);

  const status = await (await fetch(`${env.http}/status.json`)).json();
  assert.equal(status.ready, true);
  assert.deepEqual(status.snapshot.meters.map((m: { id: string }) => m.id), [A]);
});
