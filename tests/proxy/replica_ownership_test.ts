import assert from "node:assert/strict";
import { Config } from "../../src/config/schema.ts";
import { meterSettings } from "../../src/config/meter_settings.ts";
import { MeterClock } from "../../src/protocol/meter_time.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";
import { MeterRegistry } from "../../src/proxy/meter_registry.ts";
import { ReadingPipeline } from "../../src/proxy/pipeline.ts";
import { ReplicaOwnership } from "../../src/proxy/replica_ownership.ts";
import { fakeLog } from "../helpers/fake_central.ts";

const A = MeterId.parse("33B1225950027");
const T0 = Date.UTC(2026, 11, 3, 12);
const bytes = (text: string) => new TextEncoder().encode(text);
const announcement = (fields: Record<string, unknown> = {}) =>
  bytes(JSON.stringify({ id: A, model: "KPM33B", first_seen: "2026-01-01T00:00:00Z", ...fields }));

function setUp(replica?: string, homeAssistant = true) {
  const config = Config.parse({ meters: { timezone: "UTC" } });
  const pipeline = new ReadingPipeline({
    root: "kpm33b",
    retainReadings: false,
    meters: config.meters,
    limits: config.limits,
    clock: new MeterClock("UTC"),
    replica,
  }, T0);
  const registry = new MeterRegistry(100, (id) => meterSettings(config.meters, id));
  const published: Array<[string, string]> = [];
  const calls: string[] = [];
  const clock = { now: T0 };
  const { log, lines } = fakeLog();
  const ownership = new ReplicaOwnership(
    replica,
    pipeline,
    registry,
    {
      root: () => "kpm33b",
      homeAssistantEnabled: () => homeAssistant,
      publish: ({ topic, payload }) => {
        published.push([topic, payload]);
      },
      removeDiscovery: (id) => calls.push(`remove ${id}`),
      forgetDiscovery: (id) => calls.push(`forget ${id}`),
      warnLimited: (key, message) => calls.push(`warn ${key}: ${message.slice(0, 30)}`),
    },
    () => clock.now,
    log,
  );
  return { ownership, pipeline, registry, published, calls, clock, lines };
}

Deno.test("a bridge alone owns every announced meter and remembers it at the announcement's time", () => {
  const env = setUp();
  env.clock.now = T0 + 5000;
  env.ownership.onAnnouncement(`kpm33b/discovery/${A}`, announcement());
  assert.equal(env.ownership.owns(A), true);
  assert.deepEqual([...env.ownership.ownedIds()], [A]);
  assert.equal(env.registry.has(A), true);
  assert.equal(env.ownership.lastAnnouncementAt, T0 + 5000);
});

Deno.test("unreadable or invalid announcements are ignored", () => {
  const env = setUp();
  env.ownership.onAnnouncement(`kpm33b/discovery/${A}`, bytes("{not json"));
  env.ownership.onAnnouncement(`kpm33b/discovery/${A}`, bytes('{"id":"x"}'));
  assert.equal(env.ownership.owns(A), false);
  assert.equal(env.ownership.lastAnnouncementAt, 0);
  assert.deepEqual(env.lines, [[
    "debug",
    "Ignoring unreadable retained announcement on {topic}",
    { topic: `kpm33b/discovery/${A}` },
  ]]);
});

Deno.test("a cleared announcement removes the meter, its topics and its device", () => {
  const env = setUp();
  env.ownership.onAnnouncement(`kpm33b/discovery/${A}`, announcement());
  env.ownership.onAnnouncement(`kpm33b/discovery/${A}`, new Uint8Array());
  assert.deepEqual(env.published, [
    [`kpm33b/${A}/availability`, ""],
    [`kpm33b/${A}/status`, ""],
    [`kpm33b/${A}/io`, ""],
    [`kpm33b/${A}/relay`, ""],
  ]);
  assert.deepEqual(env.calls, [`remove ${A}`]);
  assert.equal(env.ownership.owns(A), false);
  assert.equal(env.registry.has(A), false);
  assert.deepEqual(env.lines.at(-1), [
    "info",
    "Meter {id} removed (announcement cleared)",
    { id: A },
  ]);
  // Clearing an unknown meter does nothing.
  env.ownership.onAnnouncement(`kpm33b/discovery/${A}`, new Uint8Array());
  assert.equal(env.published.length, 4);
});

Deno.test("without Home Assistant a cleared meter has no device to remove", () => {
  const env = setUp(undefined, false);
  env.ownership.onAnnouncement(`kpm33b/discovery/${A}`, announcement());
  env.ownership.onAnnouncement(`kpm33b/discovery/${A}`, new Uint8Array());
  assert.deepEqual(env.calls, []);
});

Deno.test("a replica owns only the meters claimed for it; another's newer claim hands over", () => {
  const env = setUp("r1");
  env.ownership.onAnnouncement(`kpm33b/discovery/${A}`, announcement({ bridge: "r1", claim: 1 }));
  assert.equal(env.ownership.owns(A), true);
  env.ownership.onAnnouncement(`kpm33b/discovery/${A}`, announcement({ bridge: "r2", claim: 2 }));
  assert.equal(env.ownership.owns(A), false);
  assert.equal(env.registry.has(A), false);
  assert.deepEqual(env.calls, [
    "warn handover: Meter {id} is handled by repli",
    `forget ${A}`,
  ]);
});

Deno.test("an older claim is answered with this replica's own claim again", () => {
  const env = setUp("r2");
  const mine = { bridge: "r2", claim: 3 };
  env.ownership.onAnnouncement(`kpm33b/discovery/${A}`, announcement(mine));
  env.ownership.onAnnouncement(`kpm33b/discovery/${A}`, announcement({ bridge: "r1", claim: 2 }));
  assert.equal(env.ownership.owns(A), true);
  assert.deepEqual(env.published.map(([topic, payload]) => [topic, JSON.parse(payload)]), [[
    `kpm33b/discovery/${A}`,
    { id: A, model: "KPM33B", first_seen: "2026-01-01T00:00:00Z", ...mine },
  ]]);
});
