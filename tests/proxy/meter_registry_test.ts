import assert from "node:assert/strict";
import fc from "fast-check";
import { parseConfig } from "../../src/config/load.ts";
import { meterSettings } from "../../src/config/meter_settings.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";
import { MeterStatus } from "../../src/protocol/meter_status.ts";
import { MeterRegistry } from "../../src/proxy/meter_registry.ts";

const A = MeterId.parse("33B1225950027");
const B = MeterId.parse("33B1225950028");
const C = MeterId.parse("33B1225950029");
const T0 = Date.UTC(2026, 11, 3, 12);

function registry(yaml = "meters:\n  availability_timeout_seconds: 10\n", max = 100) {
  const meters = parseConfig(yaml, "config.yaml", () => undefined).meters;
  return new MeterRegistry(max, (id) => meterSettings(meters, id));
}

Deno.test("a meter comes online with its first reading, once", () => {
  const meters = registry();
  assert.deepEqual(meters.seen(A, T0), { id: A, availability: "online" });
  assert.equal(meters.seen(A, T0 + 1000), undefined);
  assert.equal(meters.status(A)?.availability, "online");
});

Deno.test("silence beyond the timeout makes it offline once; a reading brings it back", () => {
  const meters = registry();
  meters.seen(A, T0);
  assert.deepEqual(meters.expire(T0 + 9_999), []);
  assert.deepEqual(meters.expire(T0 + 10_000), [{ id: A, availability: "offline" }]);
  assert.deepEqual(meters.expire(T0 + 60_000), []);
  assert.deepEqual(meters.seen(A, T0 + 61_000), { id: A, availability: "online" });
});

Deno.test("a meter known from before the restart is reported offline if it stays silent", () => {
  const meters = registry();
  meters.remember(B, T0);
  assert.deepEqual(meters.availabilities(), []);
  assert.deepEqual(meters.expire(T0 + 10_000), [{ id: B, availability: "offline" }]);
  assert.deepEqual(meters.availabilities(), [{ id: B, availability: "offline" }]);
});

Deno.test("the timeout is the seconds interval × availability_factor without a fixed one", () => {
  const meters = registry("meters:\n  upload_interval_seconds: 30\n  availability_factor: 2\n");
  meters.seen(A, T0);
  assert.deepEqual(meters.expire(T0 + 59_999), []);
  assert.equal(meters.expire(T0 + 60_000).length, 1);
});

Deno.test("status: counters, last values, drift, outbox depth, configuration", () => {
  const meters = registry("meters:\n  names:\n    33B1225950027: Kitchen\n");
  meters.seen(A, T0);
  meters.published(A, "seconds", '{"id":"x","active_power":1.5}', -3, T0);
  meters.published(A, "minutes", '{"id":"x","active_energy":12.25,"other":null}', -3, T0);
  meters.delivered(A);
  meters.dropped(A, "duplicate");
  meters.dropped(A, "zero_burst");
  meters.dropped(A, "energy_regression");
  meters.implausible(A, "active_energy (zygsz) 1e+300 kWh is outside 0 … 1000000000 kWh");
  meters.reset(A, "minutes", { register: "zygsz", from: 1000, to: 5 }, T0);
  meters.configured(A, {
    configuration: "configured",
    intervals: { seconds: 60, minutes: 1 },
    clock_set_at: null,
    last_ack_latency_ms: 120,
    last_error: null,
  });
  const status = meters.status(A)!;
  assert.deepEqual(status, {
    id: A,
    name: "Kitchen",
    model: "KPM33B",
    availability: "online",
    last_seen: "2026-12-03T12:00:00.000Z",
    readings: 2,
    rejected: 1,
    zero_filtered: 1,
    duplicates: 1,
    implausible: 1,
    last_implausible: "active_energy (zygsz) 1e+300 kWh is outside 0 … 1000000000 kWh",
    register_resets: 1,
    last_register_reset: {
      at: "2026-12-03T12:00:00.000Z",
      level: "minutes",
      register: "zygsz",
      from: 1000,
      to: 5,
    },
    clock_drift_seconds: -3,
    outbox_depth: 1,
    values: { active_power: 1.5, active_energy: 12.25, other: null },
    relay: null,
    configuration: "configured",
    intervals: { seconds: 60, minutes: 1 },
    clock_set_at: null,
    last_ack_latency_ms: 120,
    last_error: null,
  });
  assert.equal(MeterStatus.safeParse(status).success, true);
  meters.outboxEmpty();
  assert.equal(meters.status(A)!.outbox_depth, 0);
});

Deno.test("I/O reports set the relay state; the first one is told apart", () => {
  const meters = registry();
  const io = { di1: "ON", di2: "OFF", do1: "ON", do2: "OFF", raw: "1@1" } as const;
  assert.equal(meters.io(A, io, T0), true);
  assert.equal(meters.io(A, { ...io, do1: "OFF" }, T0), false);
  assert.equal(meters.hasIo(A), true);
  assert.equal(meters.status(A)!.relay, "OFF");
});

Deno.test("changed statuses are taken once; beyond max meters the least recently active goes", () => {
  const meters = registry(undefined, 2);
  meters.seen(A, T0);
  meters.seen(B, T0);
  assert.deepEqual(meters.takeChanged(), [A, B]);
  assert.deepEqual(meters.takeChanged(), []);
  meters.dropped(A, "duplicate");
  assert.deepEqual(meters.takeChanged(), [A]);
  meters.seen(A, T0 + 1);
  assert.deepEqual(meters.seen(C, T0 + 2), { id: C, availability: "online" });
  assert.equal(meters.size, 2);
  assert.equal(meters.status(B), undefined, "B was the least recently active");
  assert.equal(meters.online, 2);
  assert.deepEqual(meters.takeChanged(), [A, C]);
  meters.forget(A);
  assert.equal(meters.status(A), undefined);
  assert.equal(meters.online, 1);
});

Deno.test("statuses lists the first max meters by id", () => {
  const meters = registry();
  for (const id of [C, A, B]) meters.seen(id, T0);
  assert.deepEqual(meters.statuses(2).map((s) => s.id), [A, B]);
  assert.deepEqual(meters.statuses(0), []);
  meters.forget(A);
  assert.deepEqual(meters.statuses(5).map((s) => s.id), [B, C]);
});

/** One step of the property below. */
type Step =
  | { op: "seen" | "remember" | "forget" | "published"; meter: number; dt: number }
  | { op: "expire"; dt: number };

Deno.test("property: bounded size, and availability as a full scan of every meter decides it", () => {
  const MAX = 5;
  const TIMEOUT_MS = 10_000;
  const ids = Array.from({ length: 12 }, (_, i) => MeterId.parse(`33B12259${50000 + i}`));
  const step = fc.oneof(
    fc.record({
      op: fc.constantFrom("seen", "remember", "forget", "published"),
      meter: fc.nat(ids.length - 1),
      dt: fc.nat(4000),
    }),
    fc.record({ op: fc.constant("expire"), dt: fc.nat(8000) }),
  ) as fc.Arbitrary<Step>;
  fc.assert(
    fc.property(fc.array(step, { maxLength: 200 }), (steps) => {
      const meters = registry(
        `meters:\n  availability_timeout_seconds: ${TIMEOUT_MS / 1000}\n`,
        MAX,
      );
      // The model: what a scan over every meter on every check would decide.
      const model = new Map<MeterId, { deadline: number; availability?: "online" | "offline" }>();
      const evictIfFull = (id: MeterId) => {
        if (model.has(id) || model.size < MAX) return;
        model.delete(model.keys().next().value!);
      };
      let now = T0;
      for (const s of steps) {
        now += s.dt;
        if (s.op === "expire") {
          const expected = [...model].filter(([, m]) =>
            now >= m.deadline && m.availability !== "offline"
          ).map(([id]) => id).sort();
          for (const id of expected) model.get(id)!.availability = "offline";
          const got = meters.expire(now).map((c) => c.id).sort();
          assert.deepEqual(got, expected);
          continue;
        }
        const id = ids[s.meter];
        assert.ok(id !== undefined);
        if (s.op === "forget") {
          model.delete(id);
          meters.forget(id);
        } else if (s.op === "seen") {
          evictIfFull(id);
          const entry = model.get(id) ?? { deadline: 0 };
          model.delete(id);
          const change = entry.availability !== "online";
          model.set(id, { deadline: now + TIMEOUT_MS, availability: "online" });
          assert.equal(meters.seen(id, now) !== undefined, change);
        } else {
          evictIfFull(id);
          if (!model.has(id)) model.set(id, { deadline: now + TIMEOUT_MS });
          if (s.op === "remember") meters.remember(id, now);
          else meters.published(id, "seconds", "{}", 0, now);
        }
        assert.ok(meters.size <= MAX);
        assert.deepEqual([...meters.ids()].sort(), [...model.keys()].sort());
        const online = [...model.values()].filter((m) => m.availability === "online").length;
        assert.equal(meters.online, online);
      }
    }),
    { numRuns: 1000 },
  );
});
