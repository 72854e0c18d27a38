import assert from "node:assert/strict";
import fc from "fast-check";
import { parseConfig } from "../../src/config/load.ts";
import { meterSettings } from "../../src/config/meter_settings.ts";
import type { MetersConfig } from "../../src/config/schema.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";
import { DiscoveryPublisher } from "../../src/proxy/discovery_publisher.ts";

const A = MeterId.parse("33B1225950027");
const FOREIGN = MeterId.parse("33B1225950099");
const POWER = "homeassistant/sensor/kpm33b_33B1225950027/power/config";
const CURRENT = "homeassistant/sensor/kpm33b_33B1225950027/current_l1/config";
const bytes = (text: string) => new TextEncoder().encode(text);
const T0 = Date.UTC(2026, 11, 6, 12);
const CONTEXT = {
  root: "kpm33b",
  prefix: "homeassistant",
  version: "1.0.0",
  availabilityFactor: 2.5,
  stateTopic: "kpm33b/bridge/state",
  infoTopic: "kpm33b/bridge/info",
};
const DEFAULTS = parseConfig("{}", "config.yaml", () => undefined).meters;

/** A source where every meter of `ids` is this bridge's, with default settings. */
function allKnown(ids: readonly MeterId[] = []) {
  return {
    meters: () => ids.values(),
    known: () => true,
    excluded: () => false,
    settings: (id: MeterId) => meterSettings(DEFAULTS, id),
    io: () => false,
  };
}

function setUp(yaml = "{}") {
  let meters: MetersConfig = parseConfig(yaml, "config.yaml", () => undefined).meters;
  const published: Array<[string, string]> = [];
  const known = new Set([A]);
  const publisher = new DiscoveryPublisher(
    CONTEXT,
    {
      meters: () => known.values(),
      known: (id) => known.has(id),
      excluded: (id) => meters.exclude.includes(id),
      settings: (id) => meterSettings(meters, id),
      io: () => false,
    },
    ({ topic, payload }) => {
      published.push([topic, payload]);
    },
    { maxMeters: 10, messagesPerSecond: 0 },
    T0,
  );
  return {
    publisher,
    published,
    /** Publishes what is queued (the rate is unlimited here). */
    flush: () => publisher.drain(T0),
    topics: () => published.map(([topic, payload]) => `${payload === "" ? "clear " : ""}${topic}`),
    reconfigure(next: string) {
      meters = parseConfig(next, "config.yaml", () => undefined).meters;
    },
  };
}

Deno.test("a meter's entities are published once; forcing sends them again", () => {
  const env = setUp();
  env.publisher.publishMeter(A);
  env.flush();
  env.publisher.publishMeter(A);
  env.flush();
  assert.deepEqual(env.topics(), [
    POWER,
    "homeassistant/sensor/kpm33b_33B1225950027/energy/config",
  ]);
  env.publisher.publishAll(true);
  env.flush();
  assert.equal(env.published.length, 4);
});

Deno.test("the bridge device goes out at once; unchanged only when forced, a new version again", () => {
  const env = setUp();
  env.publisher.publishBridge(false);
  const bridge = [
    "homeassistant/binary_sensor/kpm33b_bridge/connection_state/config",
    "homeassistant/sensor/kpm33b_bridge/version/config",
    "homeassistant/sensor/kpm33b_bridge/meters_online/config",
    "homeassistant/sensor/kpm33b_bridge/meters_known/config",
    "homeassistant/button/kpm33b_bridge/reload_config/config",
  ];
  assert.deepEqual(env.topics(), bridge);
  env.publisher.publishBridge(false);
  assert.equal(env.published.length, 5);
  env.publisher.publishBridge(true);
  assert.deepEqual(env.topics(), [...bridge, ...bridge]);
  env.publisher.context = { ...CONTEXT, version: "1.0.1" };
  env.publisher.publishBridge(false);
  assert.equal(env.published.length, 15);
  assert.match(env.published.at(-1)![1], /"sw_version":"1\.0\.1"/);
});

Deno.test("a disabled field's entity is cleared with an empty retained config", () => {
  const env = setUp("meters:\n  fields: [current]\n");
  env.publisher.publishMeter(A);
  env.flush();
  assert.ok(env.topics().includes(CURRENT));
  env.published.length = 0;
  env.reconfigure("{}");
  env.publisher.publishAll(false);
  env.flush();
  assert.deepEqual(env.topics(), [
    "clear homeassistant/sensor/kpm33b_33B1225950027/current_l1/config",
    "clear homeassistant/sensor/kpm33b_33B1225950027/current_l2/config",
    "clear homeassistant/sensor/kpm33b_33B1225950027/current_l3/config",
  ]);
});

Deno.test("a stale config found retained on the broker is cleared; a current one is kept", () => {
  const env = setUp();
  env.publisher.publishMeter(A);
  env.flush();
  const power = env.published.find(([topic]) => topic === POWER)![1];
  env.published.length = 0;
  env.publisher.onConfig(CURRENT, bytes('{"name":"Current L1"}'));
  env.flush();
  assert.deepEqual(env.topics(), [`clear ${CURRENT}`]);
  env.published.length = 0;
  // The broker echoing the bridge's own publication changes nothing.
  env.publisher.onConfig(POWER, bytes(power));
  env.flush();
  assert.deepEqual(env.topics(), []);
});

Deno.test("an outdated config of a wanted entity is replaced", () => {
  const env = setUp();
  env.publisher.onConfig(POWER, bytes('{"name":"Old"}'));
  env.flush();
  assert.ok(
    env.published.some(([topic, payload]) => topic === POWER && payload.includes('"Power"')),
  );
});

Deno.test("configs of meters this bridge does not know are left alone", () => {
  const env = setUp();
  env.publisher.onConfig(
    "homeassistant/sensor/kpm33b_33B1225950099/power/config",
    bytes('{"name":"Power"}'),
  );
  env.flush();
  env.publisher.publishMeter(FOREIGN);
  env.flush();
  assert.deepEqual(env.published, []);
});

Deno.test("excluding a meter clears all its entities; removing it too", () => {
  const env = setUp();
  env.publisher.publishMeter(A);
  env.flush();
  env.published.length = 0;
  env.reconfigure("meters:\n  exclude: [33B1225950027]\n");
  env.publisher.publishAll(false);
  env.flush();
  assert.deepEqual(env.topics(), [
    `clear ${POWER}`,
    "clear homeassistant/sensor/kpm33b_33B1225950027/energy/config",
  ]);
  const again = setUp();
  again.publisher.publishMeter(A);
  again.flush();
  again.published.length = 0;
  again.publisher.remove(A);
  assert.equal(again.topics().filter((t) => t.startsWith("clear ")).length, 2);
});

Deno.test("discovery is paced: a mass reconnect never exceeds the message rate", () => {
  const published: string[] = [];
  const ids = Array.from({ length: 50 }, (_, i) => MeterId.parse(`33B12259${String(50000 + i)}`));
  const publisher = new DiscoveryPublisher(
    CONTEXT,
    allKnown(ids),
    ({ topic }) => {
      published.push(topic);
    },
    { maxMeters: 100, messagesPerSecond: 10 },
    T0,
  );
  for (const id of ids) publisher.publishMeter(id);
  const perSecond: number[] = [];
  for (let second = 0; second < 12; second++) {
    const before = published.length;
    for (let tick = 0; tick < 10; tick++) publisher.drain(T0 + second * 1000 + tick * 100);
    perSecond.push(published.length - before);
  }
  // Two messages per meter; the first second may use the saved burst of 10 as well.
  assert.ok(perSecond.every((count) => count <= 20), `messages per second: ${perSecond}`);
  assert.ok(perSecond.slice(1).every((count) => count <= 10), `messages per second: ${perSecond}`);
  assert.equal(publisher.queued, 50 - published.length / 2);
  for (let t = 12_000; publisher.queued > 0; t += 100) publisher.drain(T0 + t);
  assert.equal(published.length, 100);
  assert.equal(new Set(published).size, 100);
});

Deno.test("a meter queued twice is published once; forget takes it out of the queue", () => {
  const env = setUp();
  env.publisher.publishMeter(A);
  env.publisher.publishMeter(A, true);
  assert.equal(env.publisher.queued, 1);
  env.flush();
  assert.equal(env.published.length, 2);
  env.publisher.publishMeter(A, true);
  env.publisher.forget(A);
  env.flush();
  assert.equal(env.published.length, 2);
});

Deno.test("property: at most maxMeters meters' configurations are remembered", () => {
  fc.assert(fc.property(fc.array(fc.nat(40), { maxLength: 200 }), (order) => {
    const publisher = new DiscoveryPublisher(
      CONTEXT,
      allKnown(),
      () => {},
      { maxMeters: 5, messagesPerSecond: 0 },
      T0,
    );
    for (const n of order) {
      publisher.publishMeter(MeterId.parse(`33B12259${50000 + n}`));
      publisher.drain(T0);
      assert.ok(publisher.rememberedMeters <= 5);
    }
  }));
});

Deno.test("republishing sends the bridge device at once and queues every meter", () => {
  const env = setUp();
  env.publisher.republish(true);
  assert.equal(env.published.length, 5);
  assert.equal(env.publisher.queued, 1);
  env.flush();
  assert.equal(env.published.length, 7);
  env.publisher.republish(false);
  env.flush();
  assert.equal(env.published.length, 7);
  env.publisher.republish(true);
  env.flush();
  assert.equal(env.published.length, 14);
});
