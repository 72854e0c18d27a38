/** The clock-drift policy against a fake port and clock. */
import assert from "node:assert/strict";
import { ClockDrift } from "../../src/config_sender/clock_drift.ts";
import type { MeterCommand } from "../../src/protocol/commands.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";
import { captureLogs } from "../helpers/log_capture.ts";

const A = MeterId.parse("33B1225950027");
const B = MeterId.parse("33B1225950028");
const T0 = Date.UTC(2026, 5, 1, 8, 0);
const HOUR = 3_600_000;

function harness(maxMeters = 10) {
  let time = T0;
  let oprids = 0;
  const sent: MeterCommand[] = [];
  const queued = new Set<MeterId>();
  const drift = new ClockDrift({
    now: () => time,
    newOprid: () => (++oprids).toString(16).padStart(32, "0"),
    meterTime: (at) => `time@${at}`,
    minIntervalMs: () => HOUR,
    maxMeters: () => maxMeters,
    queued: (id, kind) => kind === "clock" && queued.has(id),
    enqueue: (commands) => sent.push(...commands),
  });
  return { drift, sent, queued, advance: (ms: number) => time += ms };
}

Deno.test("a drifting meter gets a clock set with the time it is decided, and a log line", async () => {
  await using logs = await captureLogs();
  const h = harness();
  h.drift.onDrift(A, 300, undefined);
  assert.equal(h.sent.length, 1);
  assert.equal(h.sent[0]?.kind, "clock");
  assert.equal(h.sent[0]?.request, undefined);
  assert.equal(JSON.parse(h.sent[0]?.payload).time, `time@${T0}`);
  assert.ok(
    logs.lines.some((l) => l.message === "Clock of 33B1225950027 is off by 300 s; setting it"),
  );
});

Deno.test("a meter is sent at most one set per interval, counted from the send", () => {
  const h = harness();
  h.drift.onDrift(A, 300, undefined);
  h.advance(HOUR - 1);
  h.drift.onDrift(A, 300, undefined);
  assert.equal(h.sent.length, 1, "unacknowledged, still within the interval");
  h.drift.onDrift(B, 300, undefined);
  assert.equal(h.sent.length, 2, "other meters are not held up");
  h.advance(1);
  h.drift.onDrift(A, 300, undefined);
  assert.equal(h.sent.length, 3);
});

Deno.test("an acknowledged set within the interval blocks the next; acknowledging clears the send time", () => {
  const h = harness();
  const recent = { clock_set_at: new Date(T0 - 60_000).toISOString() };
  h.drift.onDrift(A, 300, recent);
  assert.equal(h.sent.length, 0);
  h.drift.onDrift(A, 300, { clock_set_at: new Date(T0 - HOUR).toISOString() });
  assert.equal(h.sent.length, 1);
  h.drift.acknowledged(A);
  h.drift.onDrift(A, 300, undefined);
  assert.equal(h.sent.length, 2, "the acknowledgement rules, not the send");
});

Deno.test("no set while a configuration-flow clock set is queued; forgetting a meter clears its send time", () => {
  const h = harness();
  h.queued.add(A);
  h.drift.onDrift(A, 300, undefined);
  assert.equal(h.sent.length, 0);
  h.queued.clear();
  h.drift.onDrift(A, 300, undefined);
  h.drift.forget(A);
  h.drift.onDrift(A, 300, undefined);
  assert.equal(h.sent.length, 2);
});

Deno.test("the send times kept are bounded by limits.max_meters", () => {
  const h = harness(1);
  h.drift.onDrift(A, 300, undefined);
  h.drift.onDrift(B, 300, undefined);
  h.drift.onDrift(A, 300, undefined);
  assert.equal(h.sent.length, 3, "A's send time made room for B's");
});
