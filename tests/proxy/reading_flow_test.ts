import assert from "node:assert/strict";
import { Config } from "../../src/config/schema.ts";
import { meterSettings } from "../../src/config/meter_settings.ts";
import { MeterClock } from "../../src/protocol/meter_time.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";
import type { Publication } from "../../src/outbox/outbox_store.ts";
import type { BridgeEvent } from "../../src/worker/messages.ts";
import { MeterRegistry } from "../../src/proxy/meter_registry.ts";
import { ReadingPipeline } from "../../src/proxy/pipeline.ts";
import { ProxyStats } from "../../src/proxy/proxy_stats.ts";
import { ReadingFlow } from "../../src/proxy/reading_flow.ts";
import { fakeLog } from "../helpers/fake_central.ts";

const A = MeterId.parse("33B1225950027");
const FIXTURES = new URL("../fixtures/", import.meta.url);
const fixture = (name: string) => Deno.readTextFileSync(new URL(name, FIXTURES));
const bytes = (text: string) => new TextEncoder().encode(text);
/** Gateway time five seconds after the RT sample's meter time (16:39:00 in Vienna). */
const SAMPLE_NOW = Date.parse("2026-01-12T15:39:05Z");

function setUp(settings: Record<string, unknown> = {}) {
  const config = Config.parse({ meters: { timezone: "Europe/Vienna" }, ...settings });
  const pipeline = new ReadingPipeline({
    root: "kpm33b",
    retainReadings: false,
    meters: config.meters,
    limits: config.limits,
    clock: new MeterClock(config.meters.timezone),
  }, SAMPLE_NOW);
  const registry = new MeterRegistry(100, (id) => meterSettings(config.meters, id));
  const stats = new ProxyStats();
  const accepted: Array<{ publications: Publication[]; meterIds: string[] }> = [];
  const acks: string[] = [];
  const discovered: MeterId[] = [];
  const availability: string[] = [];
  const emitted: BridgeEvent[] = [];
  const warnings: string[] = [];
  const direct: string[] = [];
  const owned = new Set<MeterId>();
  const { log, lines } = fakeLog();
  const flow = new ReadingFlow(
    {
      config: () => config,
      stats,
      pipeline,
      registry,
      owns: (id) => owned.has(id),
      publishRetained: ({ topic, payload }) => direct.push(`${topic} ${payload}`),
      accept: (publications, meterIds, ack) => {
        accepted.push({ publications, meterIds: [...meterIds] });
        ack();
      },
      discoverMeter: (id) => discovered.push(id),
      availabilityChanged: (change) => availability.push(`${change.id} ${change.availability}`),
      emit: (event) => emitted.push(event),
      warnLimited: (key, message) => warnings.push(`${key}: ${message}`),
    },
    () => SAMPLE_NOW,
    log,
  );
  const ack = (name: string) => () => acks.push(name);
  return {
    flow,
    pipeline,
    registry,
    stats,
    accepted,
    acks,
    discovered,
    availability,
    emitted,
    warnings,
    direct,
    owned,
    lines,
    ack,
  };
}

Deno.test("a first reading is announced and published, the meter comes online and is discovered", () => {
  const env = setUp();
  const events = env.pipeline.handle(
    "MQTT_RT_DATA",
    bytes(fixture("MQTT_RT_DATA.json")),
    SAMPLE_NOW,
  );
  env.flow.apply(events, "MQTT_RT_DATA", env.ack("rt"));
  assert.deepEqual(env.accepted.map((a) => a.publications.map((p) => p.topic)), [[
    `kpm33b/discovery/${A}`,
    `kpm33b/${A}/seconds`,
  ]]);
  const accepted = env.accepted[0]!;
  assert.deepEqual(accepted.meterIds, [A]);
  assert.deepEqual(env.acks, ["rt"]);
  assert.deepEqual(env.availability, [`${A} online`]);
  assert.deepEqual(env.discovered, [A, A]);
  assert.deepEqual(env.lines.find(([level]) => level === "info"), [
    "info",
    "New meter {id} ({model}) found",
    JSON.parse(accepted.publications[0]!.payload),
  ]);
});

Deno.test("without Home Assistant nothing is discovered", () => {
  const env = setUp({ homeassistant: { enabled: false } });
  const events = env.pipeline.handle(
    "MQTT_RT_DATA",
    bytes(fixture("MQTT_RT_DATA.json")),
    SAMPLE_NOW,
  );
  env.flow.apply(events, "MQTT_RT_DATA", env.ack("rt"));
  assert.deepEqual(env.discovered, []);
  assert.deepEqual(env.availability, [`${A} online`]);
});

Deno.test("a rejected message is counted, warned about and acknowledged without publications", () => {
  const env = setUp();
  const events = env.pipeline.handle("MQTT_RT_DATA", bytes("{not json"), SAMPLE_NOW);
  env.flow.apply(events, "MQTT_RT_DATA", env.ack("bad"));
  assert.deepEqual(env.accepted, [{ publications: [], meterIds: [] }]);
  assert.deepEqual(env.acks, ["bad"]);
  assert.equal(Object.values(env.stats.snapshot().rejected).reduce((a, b) => a + b, 0), 1);
  assert.equal(env.warnings.length, 1);
  assert.match(env.warnings[0]!, /Rejected \{topic\} message \(\{code\}\): \{reason\}$/);
});

Deno.test("events without a message (expiry) and without publications accept nothing", () => {
  const env = setUp();
  env.flow.apply([]);
  assert.deepEqual(env.accepted, []);
});

Deno.test("a clock drift is logged and sent to the configuration flow", () => {
  const env = setUp();
  env.flow.apply([{ type: "clock_drift", id: A, driftSeconds: 42 } as never]);
  assert.deepEqual(env.emitted, [{ type: "clock_drift", id: A, drift_seconds: 42 }]);
  assert.deepEqual(env.lines, [["debug", "Clock of {id} is off by {drift} s", {
    id: A,
    drift: 42,
  }]]);
});

Deno.test("I/O goes out on io and relay; a meter owned here is discovered with its first I/O", () => {
  const env = setUp();
  env.owned.add(A);
  const io = bytes(JSON.stringify({ id: A, value: "00000003@00000001" }));
  env.flow.onIo(io, env.ack("io1"));
  env.flow.onIo(io, env.ack("io2"));
  assert.deepEqual(env.accepted[0], {
    publications: [
      {
        topic: `kpm33b/${A}/io`,
        payload: JSON.stringify({
          di1: "ON",
          di2: "ON",
          do1: "ON",
          do2: "OFF",
          raw: "00000003@00000001",
        }),
        retain: true,
      },
      { topic: `kpm33b/${A}/relay`, payload: "ON", retain: true },
    ],
    meterIds: [],
  });
  assert.deepEqual(env.acks, ["io1", "io2"]);
  assert.deepEqual(env.discovered, [A]);
});

Deno.test("I/O of an excluded meter is dropped, of a bad payload rejected; both acknowledged", () => {
  const env = setUp({ meters: { timezone: "Europe/Vienna", exclude: [A] } });
  env.flow.onIo(bytes(JSON.stringify({ id: A, value: "1@1" })), env.ack("excluded"));
  env.flow.onIo(bytes('{"id":"x"}'), env.ack("bad"));
  assert.deepEqual(env.acks, ["excluded", "bad"]);
  assert.deepEqual(env.stats.snapshot().dropped, { excluded: 1 });
  assert.equal(env.warnings.length, 1);
  assert.deepEqual(env.accepted, [{ publications: [], meterIds: [] }]);
});

Deno.test("what central acknowledged is counted and taken off the meter's outbox depth", () => {
  const env = setUp();
  env.owned.add(A);
  const events = env.pipeline.handle(
    "MQTT_RT_DATA",
    bytes(fixture("MQTT_RT_DATA.json")),
    SAMPLE_NOW,
  );
  env.flow.apply(events, "MQTT_RT_DATA", env.ack("rt"));
  assert.equal(env.registry.status(A)?.outbox_depth, 1);
  env.flow.delivered(`kpm33b/discovery/${A}`);
  env.flow.delivered(`kpm33b/${A}/seconds`);
  env.flow.delivered("kpm33b/bridge/state");
  const counts = env.stats.snapshot();
  assert.equal(counts.announced, 1);
  assert.equal(counts.published, 1);
  assert.deepEqual(counts.published_by_level, { seconds: 1 });
  assert.equal(env.registry.status(A)?.outbox_depth, 0);
});

Deno.test("a switched relay is published at once; recorded only for a meter handled here", () => {
  const env = setUp();
  env.flow.relaySwitched(A, "ON");
  assert.deepEqual(env.direct, [`kpm33b/${A}/relay ON`]);
  assert.equal(env.registry.status(A), undefined);
  env.owned.add(A);
  env.flow.relaySwitched(A, "OFF");
  assert.deepEqual(env.direct, [`kpm33b/${A}/relay ON`, `kpm33b/${A}/relay OFF`]);
  assert.equal(env.registry.status(A)?.relay, "OFF");
  assert.deepEqual(env.accepted, []);
});
