import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { meterSettings } from "../../src/config/meter_settings.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";
import { MeterStatus } from "../../src/protocol/meter_status.ts";
import { MeterRegistry } from "../../src/proxy/meter_registry.ts";

const A = MeterId.parse("33B1225950027");
const B = MeterId.parse("33B1225950028");
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

Deno.test("changed statuses are taken once; the registry holds at most max meters", () => {
  const meters = registry(undefined, 1);
  meters.seen(A, T0);
  assert.equal(meters.seen(B, T0), undefined);
  assert.equal(meters.size, 1);
  assert.deepEqual(meters.takeChanged(), [A]);
  assert.deepEqual(meters.takeChanged(), []);
  meters.dropped(A, "duplicate");
  assert.deepEqual(meters.takeChanged(), [A]);
  meters.forget(A);
  assert.equal(meters.status(A), undefined);
});
