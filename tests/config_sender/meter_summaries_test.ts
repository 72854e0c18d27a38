/** Meter summaries from command results and the meter's state. */
import assert from "node:assert/strict";
import type { CommandResult } from "../../src/config_sender/command_dispatcher.ts";
import { MeterSummaries } from "../../src/config_sender/meter_summaries.ts";
import {
  minutesIntervalCommand,
  relayCommand,
  secondsIntervalCommand,
} from "../../src/protocol/commands.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";
import { captureLogs } from "../helpers/log_capture.ts";

const A = MeterId.parse("33B1225950027");
const B = MeterId.parse("33B1225950028");
const OPRID = "0".repeat(32);
const idle = { excluded: false, configuring: false };
const ok = (latencyMs: number): CommandResult & { ok: true } => ({
  ok: true,
  attempts: 1,
  reply: { id: A, oprid: OPRID, code: "01" },
  latencyMs,
});
const configured = {
  day: "20260601",
  settings: { upload_interval_seconds: 60, upload_interval_minutes: 1 },
  at: "2026-06-01T08:00:00.000Z",
};

Deno.test("a meter without state or results is pending with nothing known", () => {
  const summaries = new MeterSummaries(() => 10);
  assert.deepEqual(summaries.summary(A, undefined, idle), {
    configuration: "pending",
    intervals: { seconds: null, minutes: null },
    clock_set_at: null,
    last_ack_latency_ms: null,
    last_error: null,
  });
});

Deno.test("excluded comes first, then configuring, then failed or configured", () => {
  const summaries = new MeterSummaries(() => 10);
  const failed = {
    configured,
    last_failure: {
      command: "seconds interval 60 s",
      oprid: OPRID,
      reason: "meter replied code 02",
      at: "2026-06-01T09:00:00.000Z",
    },
  };
  const at = (meter: Parameters<MeterSummaries["summary"]>[1], standing = idle) =>
    summaries.summary(A, meter, standing).configuration;
  assert.equal(at(failed, { excluded: true, configuring: true }), "excluded");
  assert.equal(at(failed, { excluded: false, configuring: true }), "configuring");
  assert.equal(at(failed), "failed");
  assert.equal(
    at({ ...failed, configured: { ...configured, at: "2026-06-01T10:00:00.000Z" } }),
    "configured",
  );
  assert.equal(
    summaries.summary(A, failed, idle).last_error,
    "seconds interval 60 s: meter replied code 02",
  );
});

Deno.test("acknowledged intervals and latency override the configured ones; each is logged", async () => {
  await using logs = await captureLogs();
  const summaries = new MeterSummaries(() => 10);
  summaries.acknowledged(secondsIntervalCommand(A, 300, OPRID), ok(12.6));
  summaries.acknowledged(relayCommand(A, true, OPRID), ok(40.2));
  const summary = summaries.summary(A, { configured, clock_set_at: configured.at }, idle);
  assert.deepEqual(summary.intervals, { seconds: 300, minutes: 1 });
  assert.equal(summary.last_ack_latency_ms, 40);
  assert.equal(summary.clock_set_at, configured.at);
  assert.ok(
    logs.lines.some((l) =>
      l.message === `33B1225950027 acknowledged seconds interval 300 s (oprid ${OPRID}) after 13 ms`
    ),
  );
});

Deno.test("a request's failure is the last error, with an ALERT; forgetting clears it", async () => {
  await using logs = await captureLogs();
  const summaries = new MeterSummaries(() => 10);
  summaries.requestFailed(relayCommand(A, true, OPRID), {
    ok: false,
    attempts: 3,
    outcome: "unanswered",
    reason: "no acknowledgement after 3 attempts",
  });
  const error = "relay DO1 on: no acknowledgement after 3 attempts; sent, not acknowledged: " +
    "the relay may have switched";
  assert.equal(summaries.summary(A, { configured }, idle).last_error, error);
  assert.ok(logs.lines.some((l) =>
    l.level === "error" &&
    l.message ===
      `ALERT meter 33B1225950027: relay DO1 on failed (oprid ${OPRID}): ${error.slice(14)}`
  ));
  summaries.forget(A);
  assert.equal(summaries.summary(A, undefined, idle).last_error, null);
});

Deno.test("acknowledged intervals are kept for at most limits.max_meters meters", () => {
  const summaries = new MeterSummaries(() => 1);
  summaries.acknowledged(minutesIntervalCommand(A, 5, OPRID), ok(1));
  summaries.acknowledged(minutesIntervalCommand(B, 5, OPRID), ok(1));
  assert.equal(summaries.summary(A, undefined, idle).intervals.minutes, 5);
  assert.equal(summaries.summary(B, undefined, idle).intervals.minutes, null);
});
