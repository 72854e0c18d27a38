import assert from "node:assert/strict";
import fc from "fast-check";
import { Config } from "../../src/config/schema.ts";
import { MeterClock } from "../../src/protocol/meter_time.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";
import { MeterAnnouncement } from "../../src/protocol/topics.ts";
import { INSTANT_TAGS } from "../../src/protocol/tags.ts";
import { type PipelineEvent, ReadingPipeline } from "../../src/proxy/pipeline.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url);
const fixture = (name: string) => Deno.readTextFileSync(new URL(name, FIXTURES));
const bytes = (text: string) => new TextEncoder().encode(text);

function pipeline(settings: Record<string, unknown> = {}, root = "kpm33b", now?: number) {
  const config = Config.parse({
    topics: { root },
    meters: { timezone: "Europe/Vienna" },
    ...settings,
  });
  return new ReadingPipeline({
    root: config.topics.root,
    retainReadings: config.topics.retain_readings,
    meters: config.meters,
    limits: config.limits,
    clock: new MeterClock(config.meters.timezone),
  }, now);
}

const published = (events: PipelineEvent[]) =>
  events.flatMap((e) => e.type === "publish" ? [{ topic: e.topic, ...JSON.parse(e.payload) }] : []);

/** Gateway time five seconds after the RT sample's meter time (16:39:00 in Vienna). */
const SAMPLE_NOW = Date.parse("2026-01-12T15:39:05Z");

Deno.test("the RT sample becomes an announcement and a seconds reading", () => {
  const events = pipeline().handle("MQTT_RT_DATA", bytes(fixture("MQTT_RT_DATA.json")), SAMPLE_NOW);
  assert.deepEqual(events.map((e) => e.type), ["announce", "publish"]);
  assert.deepEqual(events[0], {
    type: "announce",
    announcement: { id: "33B1225950027", model: "KPM33B", first_seen: "2026-01-12T15:39:05.000Z" },
    message: {
      topic: "kpm33b/discovery/33B1225950027",
      payload: '{"id":"33B1225950027","model":"KPM33B","first_seen":"2026-01-12T15:39:05.000Z"}',
    },
    claim: false,
  });
  assert.deepEqual(published(events), [{
    topic: "kpm33b/33B1225950027/seconds",
    id: "33B1225950027",
    time: "20260112163900",
    timestamp: "2026-01-12T16:39:00+01:00",
    active_power: 6.6905,
  }]);
});

Deno.test("a meter is announced once; a remembered announcement is not repeated", () => {
  const p = pipeline();
  const rt = JSON.parse(fixture("MQTT_RT_DATA.json"));
  p.rememberAnnouncement(MeterAnnouncement.parse({
    id: "33B1225950028",
    model: "KPM33B",
    first_seen: "2026-01-01T00:00:00.000Z",
  }));
  const first = p.handle("MQTT_RT_DATA", bytes(JSON.stringify(rt)), 0);
  const second = p.handle(
    "MQTT_RT_DATA",
    bytes(JSON.stringify({ ...rt, time: "20260112164000" })),
    1,
  );
  const remembered = p.handle(
    "MQTT_RT_DATA",
    bytes(JSON.stringify({ ...rt, id: "33B1225950028" })),
    2,
  );
  assert.equal(first.filter((e) => e.type === "announce").length, 1);
  assert.equal(second.filter((e) => e.type === "announce").length, 0);
  assert.equal(remembered.filter((e) => e.type === "announce").length, 0);
  assert.equal(p.announcedMeters, 2);
});

Deno.test("missing zyggl / zygsz are published as null, never 0", () => {
  const p = pipeline();
  const rt = published(
    p.handle("MQTT_RT_DATA", bytes(fixture("MQTT_RT_DATA_missing_data.json")), 0),
  );
  const eny = published(
    p.handle("MQTT_ENY_NOW", bytes(fixture("MQTT_ENY_NOW_missing_data.json")), 0),
  );
  assert.equal(rt[0].active_power, null);
  assert.ok("active_power" in rt[0]);
  assert.equal(eny[0].active_energy, null);
});

Deno.test("replaying the short capture publishes each distinct real reading once, no zeros", () => {
  const p = pipeline();
  const lines = fixture("MQTT_ENY_NOW_capture_short.jsonl").trim().split("\n");
  const events = lines.flatMap((line, i) => p.handle("MQTT_ENY_NOW", bytes(line), i * 1000));
  const readings = published(events);
  assert.deepEqual(readings.map((r) => [r.id, r.time, r.active_energy]), [
    ["33B1225950028", "20260117211500", 31.057],
    ["33B1225950027", "20260117211500", 163.486],
    ["33B1225950029", "20050118211500", 168.878],
    ["33B1225950029", "20050118211500", 168.878],
  ]);
  const dropped = events.flatMap((e) => e.type === "dropped" ? [`${e.id}:${e.code}`] : []);
  assert.deepEqual(dropped, [
    "33B1225950029:zero_burst",
    "33B1225950028:zero_burst",
    "33B1225950028:duplicate",
    "33B1225950029:zero_burst",
    "33B1225950030:zero_burst",
    "33B1225950030:zero_burst",
  ]);
});

Deno.test("full profile and per-phase groups follow meters.overrides", () => {
  const p = pipeline({
    meters: {
      timezone: "Europe/Vienna",
      fields: ["current"],
      overrides: { "33B1225950028": { profile: "full" } },
    },
  });
  const rt = JSON.parse(fixture("MQTT_RT_DATA.json"));
  const [grouped] = published(p.handle("MQTT_RT_DATA", bytes(JSON.stringify(rt)), 0));
  const [full] = published(
    p.handle("MQTT_RT_DATA", bytes(JSON.stringify({ ...rt, id: "33B1225950028" })), 0),
  );
  assert.deepEqual(Object.keys(grouped), [
    "topic",
    "id",
    "time",
    "timestamp",
    "active_power",
    "current_l1",
    "current_l2",
    "current_l3",
  ]);
  assert.equal(grouped.current_l2, 9.658);
  assert.equal(full.voltage_l1_l2, 398.949);
  assert.equal(full.frequency, 49.959);
  assert.equal(full.residual_current, undefined, "KPM37-only tags are left out for a KPM33B");
  const standard = Object.values(INSTANT_TAGS).filter((t) => !t.extended).length;
  assert.equal(Object.keys(full).length, 4 + standard);
});

Deno.test("split packets are published once complete; stale ones expire with an event", () => {
  const p = pipeline({ limits: { reassembly_max_age_seconds: 10 } });
  const base = { id: "37A0000000001", time: "20260112163900" };
  const first = p.handle(
    "MQTT_RT_DATA",
    bytes(JSON.stringify({ ...base, ua: 230.1, isend: "0" })),
    0,
  );
  const last = p.handle(
    "MQTT_RT_DATA",
    bytes(JSON.stringify({ ...base, zyggl: 1.5, isend: "1" })),
    1,
  );
  assert.deepEqual(first, []);
  assert.deepEqual(published(last).map((r) => r.active_power), [1.5]);
  p.handle(
    "MQTT_RT_DATA",
    bytes(JSON.stringify({ ...base, time: "20260112164000", isend: "0", ua: 1 })),
    2,
  );
  assert.equal(p.pendingReadings, 1);
  assert.deepEqual(p.expire(20_000).map((e) => e.type), ["incomplete"]);
  assert.equal(p.pendingReadings, 0);
});

const hostileTopic = fc.oneof(
  fc.constantFrom("MQTT_RT_DATA", "MQTT_ENY_NOW", "MQTT_DAY_DATA", "MQTT_TELEIND"),
  fc.string(),
);
const hostileId = fc.oneof(
  fc.constantFrom("../#", "+", "#", "", "/", "a/b", "33B12259500270", "33B1225950027\n"),
  fc.stringMatching(/^[0-9A-Z]{13}$/),
  fc.string({ minLength: 0, maxLength: 20 }),
  fc.anything(),
);
const hostilePayload = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => b),
  fc.record({
    id: hostileId,
    time: fc.oneof(fc.constant("20260112163900"), fc.string(), fc.anything()),
    isend: fc.oneof(fc.constantFrom("0", "1"), fc.anything()),
    zyggl: fc.oneof(fc.double(), fc.string(), fc.anything()),
    zygsz: fc.oneof(fc.double({ min: 0, max: 1e6 }), fc.constant(0)),
    ua: fc.oneof(fc.double(), fc.constant(0)),
  }, { requiredKeys: [] }).map((o) => bytes(JSON.stringify(o) ?? "null")),
  fc.jsonValue().map((v) => bytes(JSON.stringify(v) ?? "null")),
  // Numbers JSON.stringify cannot write: a float overflow, as text and as a number literal.
  fc.tuple(fc.constantFrom("zyggl", "zygsz", "ua"), fc.constantFrom('"1e999"', "-1e999", "1e400"))
    .map(([tag, literal]) =>
      bytes(`{"id":"33B1225950027","time":"20260112163900","ua":230.1,"${tag}":${literal}}`)
    ),
);

Deno.test("property: no input crashes the pipeline or yields a topic outside the root", () => {
  for (const root of ["kpm33b", "site-1/kpm33b"]) {
    const p = pipeline({}, root);
    fc.assert(
      fc.property(hostileTopic, hostilePayload, fc.nat(), (topic, payload, now) => {
        for (const event of [...p.handle(topic, payload, now), ...p.expire(now)]) {
          if (event.type !== "publish" && event.type !== "announce") continue;
          const out = event.type === "publish" ? event.topic : event.message.topic;
          assert.ok(out.startsWith(`${root}/`), out);
          const levels = out.split("/");
          assert.ok(levels.every((level) => level !== ""), `empty level in ${out}`);
          assert.ok(
            !/[+#]/.test(out) && !out.includes("\0"),
            `wildcard in ${out}`,
          );
          assert.match(out, /^[A-Za-z0-9_/-]+$/);
          if (event.type === "publish") JSON.parse(event.payload); // valid JSON: no Infinity
        }
      }),
      { numRuns: 500 },
    );
  }
});

Deno.test("a drifting meter clock is reported at most once a minute; a small drift is not", () => {
  const p = pipeline();
  const rt = JSON.parse(fixture("MQTT_RT_DATA.json"));
  const drifts = (time: string, now: number) =>
    p.handle("MQTT_RT_DATA", bytes(JSON.stringify({ ...rt, time })), now)
      .filter((e) => e.type === "clock_drift");
  assert.deepEqual(drifts("20260112163900", SAMPLE_NOW + 115_000), []);
  assert.deepEqual(drifts("20050101000000", SAMPLE_NOW), [{
    type: "clock_drift",
    id: "33B1225950027",
    driftSeconds: Math.round((Date.parse("2004-12-31T23:00:00Z") - SAMPLE_NOW) / 1000),
  }]);
  assert.deepEqual(drifts("20050101000100", SAMPLE_NOW + 30_000), []);
  assert.equal(drifts("20050101000200", SAMPLE_NOW + 61_000).length, 1);
  assert.equal(drifts("20260112164500", SAMPLE_NOW + 122_000).length, 1, "meter ahead by >120 s");
});

/** The RT sample as meter `n`'s reading at `minute` past 16:00 (Vienna), as bytes. */
function reading(n: number, minute: number): Uint8Array {
  const sample = JSON.parse(fixture("MQTT_RT_DATA.json"));
  const id = `33B${String(n).padStart(10, "0")}`;
  return bytes(
    JSON.stringify({ ...sample, id, time: `2026011216${String(minute).padStart(2, "0")}00` }),
  );
}

Deno.test("property: the state of many meters stays within limits.max_meters", () => {
  const MAX = 20;
  fc.assert(fc.property(
    fc.array(fc.record({ meter: fc.nat(3 * MAX), minute: fc.nat(59) }), { maxLength: 300 }),
    (steps) => {
      const p = pipeline({ limits: { max_meters: MAX, reassembly_max_pending: 5 } });
      for (const { meter, minute } of steps) {
        p.handle("MQTT_RT_DATA", reading(meter, minute), SAMPLE_NOW);
        assert.ok(p.announcedMeters <= MAX, `${p.announcedMeters} announced`);
        assert.ok(p.historyMeters <= MAX, `${p.historyMeters} histories`);
        assert.ok(p.pendingReadings <= 5);
      }
    },
  ));
});

/** A pipeline admitting `burst` new meters at once, then one every 10 s. */
function admitting(burst: number, admission: Record<string, unknown> = {}, exclude: string[] = []) {
  const meters = {
    timezone: "Europe/Vienna",
    exclude,
    admission: { burst, new_per_minute: 6, ...admission },
  };
  return pipeline({ meters }, "kpm33b", SAMPLE_NOW);
}

const types = (events: PipelineEvent[]) =>
  events.map((e) => e.type === "rejected" ? e.code : e.type);

Deno.test("new meters over meters.admission are refused: not announced, not published", () => {
  const p = admitting(2);
  // Meter clocks 39 minutes behind: an admitted meter's clock is to be set, a refused one's not.
  const flood = Array.from(
    { length: 10 },
    (_, n) => p.handle("MQTT_RT_DATA", reading(n, 0), SAMPLE_NOW),
  );
  assert.deepEqual(flood.map(types), [
    ["announce", "publish", "clock_drift"],
    ["announce", "publish", "clock_drift"],
    ...Array(8).fill(["not_admitted"]),
  ]);
  const refused = flood[2]?.[0];
  assert.ok(refused?.type === "rejected" && /meters\.admission\.burst/.test(refused.reason));
  // A refused reading leaves nothing behind: no filter history, no announcement.
  assert.equal(p.historyMeters, 2);
  assert.equal(p.announcedMeters, 2);
  // Admitted meters keep flowing; a refused one is admitted with a reading once a token is back.
  assert.deepEqual(types(p.handle("MQTT_RT_DATA", reading(0, 39), SAMPLE_NOW + 1000)), [
    "publish",
  ]);
  assert.deepEqual(types(p.handle("MQTT_RT_DATA", reading(5, 39), SAMPLE_NOW + 9000)), [
    "not_admitted",
  ]);
  assert.deepEqual(types(p.handle("MQTT_RT_DATA", reading(5, 39), SAMPLE_NOW + 10_000)), [
    "announce",
    "publish",
  ]);
  assert.deepEqual(types(p.handle("MQTT_RT_DATA", reading(6, 39), SAMPLE_NOW + 10_000)), [
    "not_admitted",
  ]);
});

Deno.test("meters announced on central or with a restored history are known: not counted", () => {
  const p = admitting(1);
  p.rememberAnnouncement(MeterAnnouncement.parse({
    id: "33B0000000001",
    model: "KPM33B",
    first_seen: "2026-01-01T00:00:00.000Z",
  }));
  const before = admitting(1);
  before.handle("MQTT_RT_DATA", reading(2, 38), SAMPLE_NOW - 60_000);
  const state = before.meterState(MeterId.parse("33B0000000002"));
  assert.ok(state !== undefined);
  p.restoreMeterStates(new Map([["33B0000000002", state]]));
  const at = (n: number) => types(p.handle("MQTT_RT_DATA", reading(n, 39), SAMPLE_NOW));
  assert.deepEqual(at(3), ["announce", "publish"]);
  assert.deepEqual(at(4), ["not_admitted"]);
  assert.deepEqual(at(1), ["publish"]);
  // Known from its history, announced anew (central had lost the announcement).
  assert.deepEqual(at(2), ["announce", "publish"]);
  assert.equal(p.admit(MeterId.parse("33B0000000002"), SAMPLE_NOW).admitted, true);
  assert.equal(p.admit(MeterId.parse("33B0000000005"), SAMPLE_NOW).admitted, false);
});

Deno.test("excluded meters take no admission token; meters off the allow-list are not_allowed", () => {
  const p = admitting(1, { allow: ["33B000000000*"] }, ["33B0000000001"]);
  const at = (n: number) => types(p.handle("MQTT_RT_DATA", reading(n, 39), SAMPLE_NOW));
  assert.deepEqual(at(1), ["dropped"]);
  assert.deepEqual(at(12), ["not_allowed"]);
  assert.deepEqual(at(2), ["announce", "publish"]);
  assert.deepEqual(at(3), ["not_admitted"]);
});

Deno.test("with replicas a new meter is announced with this replica; a moved one is claimed", () => {
  const p = new ReadingPipeline({
    root: "kpm33b",
    retainReadings: false,
    meters: Config.parse({}).meters,
    limits: Config.parse({}).limits,
    clock: new MeterClock("Europe/Vienna"),
    replica: "r1",
  });
  const id = MeterId.parse("33B0000000007");
  const first = p.handle("MQTT_RT_DATA", reading(7, 0), SAMPLE_NOW);
  const announced = first.find((e) => e.type === "announce");
  const announcement = {
    id,
    model: "KPM33B",
    first_seen: "2026-01-12T15:39:05.000Z",
    bridge: "r1",
    bridge_since: "2026-01-12T15:39:05.000Z",
    claim: 1,
  };
  assert.deepEqual(announced, {
    type: "announce",
    announcement,
    message: { topic: `kpm33b/discovery/${id}`, payload: JSON.stringify(announcement) },
    claim: false,
  });
  assert.equal(p.ownerOf(id), "r1");
  // Another replica took it over later; the broker now routes it here again.
  const moved = {
    id,
    model: "KPM33B",
    first_seen: "2026-01-12T15:39:05.000Z",
    bridge: "r2",
    // Replicas' clocks differ: the count decides, not the time.
    bridge_since: "2026-01-12T15:30:00.000Z",
    claim: 2,
  };
  assert.equal(p.isStale(moved), false);
  p.rememberAnnouncement(moved);
  assert.equal(p.isStale({ ...moved, bridge: "r3", claim: 1 }), true, "a lower count");
  assert.equal(p.isStale({ ...moved, bridge: "r1" }), true, "an equal count, a lesser name");
  assert.equal(p.isStale({ ...moved, bridge: "r3" }), false, "an equal count, a greater name");
  assert.equal(p.isStale(moved), false, "its own echo");
  const later = SAMPLE_NOW + 120_000;
  const claim = p.handle("MQTT_RT_DATA", reading(7, 2), later).find((e) => e.type === "announce");
  const claimed = { ...moved, bridge: "r1", bridge_since: new Date(later).toISOString(), claim: 3 };
  assert.deepEqual(claim, {
    type: "announce",
    announcement: claimed,
    message: { topic: `kpm33b/discovery/${id}`, payload: JSON.stringify(claimed) },
    claim: true,
  });
  assert.equal(
    p.handle("MQTT_RT_DATA", reading(7, 3), later).some((e) => e.type === "announce"),
    false,
    "claimed once",
  );
});

/** The ENY sample with `zygsz` and `time` replaced, as bytes. */
function energy(zygsz: unknown, time = "20260112163900", id = "33B1225950027"): Uint8Array {
  const sample = JSON.parse(fixture("MQTT_ENY_NOW.json"));
  return bytes(JSON.stringify({ ...sample, id, zygsz, time }));
}

Deno.test("an implausible reading is an event with its meter, reason and code; nothing else", () => {
  const p = pipeline();
  p.handle("MQTT_ENY_NOW", energy(100), SAMPLE_NOW);
  for (const absurd of [1e300, "1e308"]) {
    const events = p.handle("MQTT_ENY_NOW", energy(absurd, "20260112164000"), SAMPLE_NOW + 60_000);
    assert.deepEqual(events.map((e) => e.type), ["implausible"]);
    assert.deepEqual(
      { ...events[0], reason: undefined },
      {
        type: "implausible",
        code: "implausible_value",
        id: "33B1225950027",
        level: "minutes",
        reason: undefined,
      },
    );
    assert.match((events[0] as { reason: string }).reason, /^active_energy \(zygsz\) 1e\+30\d kWh/);
  }
  const next = p.handle("MQTT_ENY_NOW", energy(101, "20260112164100"), SAMPLE_NOW + 120_000);
  assert.deepEqual(published(next).map((r) => r.active_energy), [101]);
});

Deno.test("a reading from 2099 is rejected and its clock is reported so it is set", () => {
  const p = pipeline();
  const events = p.handle("MQTT_ENY_NOW", energy(100, "20991231235959"), SAMPLE_NOW);
  assert.deepEqual(events.map((e) => e.type), ["implausible", "clock_drift"]);
  assert.equal((events[0] as { code: string }).code, "implausible_time");
  assert.ok((events[1] as { driftSeconds: number }).driftSeconds > 70 * 365 * 86_400);
  // Not announced: the meter has sent nothing publishable yet.
  assert.equal(p.isAnnounced(MeterId.parse("33B1225950027")), false);
});

Deno.test("a confirmed register reset is published with an event naming old and new value", () => {
  const p = pipeline({ meters: { timezone: "Europe/Vienna", reset_confirm_readings: 2 } });
  p.handle("MQTT_ENY_NOW", energy(1000), SAMPLE_NOW);
  const first = p.handle("MQTT_ENY_NOW", energy(3, "20260112164000"), SAMPLE_NOW + 60_000);
  assert.deepEqual(first.map((e) => e.type), ["dropped"]);
  const second = p.handle("MQTT_ENY_NOW", energy(4, "20260112164100"), SAMPLE_NOW + 120_000);
  assert.deepEqual(second.map((e) => e.type), ["register_reset", "publish"]);
  assert.deepEqual(second[0], {
    type: "register_reset",
    id: "33B1225950027",
    level: "minutes",
    reset: { register: "zygsz", from: 1000, to: 4 },
  });
});

Deno.test("a retained reading replayed at subscribe is dropped when something newer went out", () => {
  const p = pipeline();
  p.handle("MQTT_ENY_NOW", energy(100, "20260112164000"), SAMPLE_NOW);
  const replay = p.handle("MQTT_ENY_NOW", energy(99, "20260112163900"), SAMPLE_NOW, "retained");
  assert.deepEqual(replay.map((e) => e.type), ["dropped"]);
  assert.match((replay[0] as { reason: string }).reason, /^retained reading at 20260112163900/);
});

Deno.test("forgetHistory: a meter replaced under the same id starts afresh", () => {
  const p = pipeline();
  p.handle("MQTT_ENY_NOW", energy(1000), SAMPLE_NOW);
  assert.equal(p.forgetHistory(MeterId.parse("33B1225950027")), true);
  assert.equal(p.meterState(MeterId.parse("33B1225950027")), undefined);
  const next = p.handle("MQTT_ENY_NOW", energy(2, "20260112164000"), SAMPLE_NOW + 60_000);
  assert.deepEqual(published(next).map((r) => r.active_energy), [2]);
});

Deno.test("a meter whose register restarted with its clock in 2005 is reported for its clock", () => {
  const p = pipeline();
  p.handle("MQTT_ENY_NOW", energy(1000), SAMPLE_NOW);
  // A replacement meter under the old id: low registers, factory clock.
  const events = p.handle("MQTT_ENY_NOW", energy(3, "20050101000000"), SAMPLE_NOW + 60_000);
  assert.deepEqual(events.map((e) => e.type), ["dropped", "clock_drift"]);
  // A repeat (the same reading again, minutes later) tells nothing new.
  const again = p.handle("MQTT_ENY_NOW", energy(1000), SAMPLE_NOW + 180_000);
  assert.deepEqual(again.map((e) => e.type), ["dropped"]);
  assert.equal((again[0] as { code: string }).code, "duplicate");
});
