/**
 * Configuration batches against a fake port: a fake clock, an in-memory
 * state, commands collected instead of dispatched.
 */
import assert from "node:assert/strict";
import { MetersConfig } from "../../src/config/schema.ts";
import type { CommandResult } from "../../src/config_sender/command_dispatcher.ts";
import { ConfigBatches } from "../../src/config_sender/config_batches.ts";
import type { ConfigSenderState } from "../../src/config_sender/meter_state.ts";
import { clockCommand, type MeterCommand } from "../../src/protocol/commands.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";
import { MeterClock } from "../../src/protocol/meter_time.ts";
import { captureLogs } from "../helpers/log_capture.ts";

const A = MeterId.parse("33B1225950027");
const B = MeterId.parse("33B1225950028");
const C = MeterId.parse("33B1225950029");
/** 10:00 in Vienna. */
const T0 = Date.UTC(2026, 5, 1, 8, 0);
const HOUR = 3_600_000;

function harness(meters: Record<string, unknown> = {}) {
  let time = T0;
  let oprids = 0;
  const clock = new MeterClock("Europe/Vienna");
  const state: ConfigSenderState = { version: 1, meters: {} };
  const sent: MeterCommand[] = [];
  const queued = new Set<string>();
  const reports: MeterId[] = [];
  const config = { meters: MetersConfig.parse({ timezone: "Europe/Vienna", ...meters }) };
  let loaded = true;
  const batches = new ConfigBatches({
    now: () => time,
    newOprid: () => (++oprids).toString(16).padStart(32, "0"),
    meterTime: (at) => clock.meterTimeAt(at),
    meters: () => config.meters,
    state: () => loaded ? state : undefined,
    enqueue: (commands) => sent.push(...commands),
    queued: (id, kind) => queued.has(`${id}/${kind}`),
    report: (id) => reports.push(id),
  });
  /** Settles a command the way the flow does: claim, then settle. */
  const settle = (command: MeterCommand, result: CommandResult) => {
    const meter = state.meters[command.id] ??= {};
    const at = new Date(time).toISOString();
    const inBatch = batches.claim(command);
    // As the flow does: an acknowledged clock set is recorded before the batch settles.
    if (result.ok && command.kind === "clock") meter.clock_set_at = at;
    batches.settle(command, result, meter, at, inBatch);
  };
  return {
    batches,
    state,
    sent,
    /** The `i`th command sent so far; the test fails when there is none. */
    command(i: number): MeterCommand {
      const command = sent[i];
      assert.ok(command !== undefined, `command ${i} was sent`);
      return command;
    },
    queued,
    reports,
    config,
    settle,
    unload: () => loaded = false,
    advance: (ms: number) => time += ms,
    kinds: (id: MeterId) => sent.filter((c) => c.id === id).map((c) => c.kind),
    /** Acknowledges every command sent so far to a meter. */
    ackAll(id: MeterId) {
      for (const command of sent.filter((c) => c.id === id)) settle(command, ok);
    },
  };
}

const ok: CommandResult = {
  ok: true,
  attempts: 1,
  reply: { id: A, oprid: "x", code: "01" },
  latencyMs: 20,
};
const refused: CommandResult = {
  ok: false,
  attempts: 1,
  outcome: "refused",
  reason: "meter replied code 02",
};

Deno.test("a meter never configured gets both intervals and its clock, and is reported", async () => {
  await using logs = await captureLogs();
  const h = harness();
  h.batches.check(A, "discovered");
  assert.deepEqual(h.kinds(A), ["interval_seconds", "interval_minutes", "clock"]);
  assert.equal(JSON.parse(h.command(2).payload).time, "20260601100000");
  assert.ok(h.sent.every((c) => c.request === undefined));
  assert.ok(h.batches.has(A));
  assert.deepEqual(h.reports, [A]);
  assert.ok(
    logs.lines.some((l) =>
      l.message === "Configuring 33B1225950027 (discovered: never configured)"
    ),
  );
  h.batches.check(A, "daily check");
  assert.equal(h.sent.length, 3, "one batch per meter at a time");
});

Deno.test("a batch acknowledged in full records the configuration; the same day nothing more goes out", async () => {
  await using logs = await captureLogs();
  const h = harness({ overrides: { [A]: { upload_interval_seconds: 300 } } });
  h.batches.check(A, "discovered");
  h.ackAll(A);
  assert.equal(h.batches.has(A), false);
  assert.deepEqual(h.state.meters[A]?.configured, {
    day: "20260601",
    settings: { upload_interval_seconds: 300, upload_interval_minutes: 1 },
    at: new Date(T0).toISOString(),
  });
  assert.ok(
    logs.lines.some((l) => l.message === "33B1225950027 configured: 300 s / 1 min, clock set"),
  );
  h.batches.check(A, "daily check");
  assert.equal(h.sent.length, 3);
  h.advance(24 * HOUR);
  h.batches.check(A, "daily check");
  assert.deepEqual(h.kinds(A).slice(3), ["interval_seconds", "interval_minutes", "clock"]);
  assert.ok(
    logs.lines.some((l) =>
      l.message === "Configuring 33B1225950027 (daily check: not configured today)"
    ),
  );
});

Deno.test("a clock set recently is not repeated; one queued already counts for the batch", () => {
  const h = harness();
  h.state.meters[A] = { clock_set_at: new Date(T0 - 60_000).toISOString() };
  h.batches.check(A, "discovered");
  assert.deepEqual(h.kinds(A), ["interval_seconds", "interval_minutes"]);
  h.ackAll(A);
  assert.ok(h.state.meters[A].configured !== undefined);

  h.queued.add(`${B}/clock`);
  h.batches.check(B, "discovered");
  assert.deepEqual(h.kinds(B), ["interval_seconds", "interval_minutes"]);
  h.ackAll(B);
  assert.ok(h.batches.has(B), "waits for the queued clock set");
  settleClock(h, B);
  assert.equal(h.batches.has(B), false);
  assert.ok(h.state.meters[B]?.configured !== undefined);
});

/** A configuration-flow clock set sent outside any batch (a drift report's). */
const driftClock = (id: MeterId) => clockCommand(id, "20260601100000", "f".repeat(32));

function settleClock(h: ReturnType<typeof harness>, id: MeterId) {
  h.settle(driftClock(id), ok);
}

Deno.test("a failed batch raises an ALERT and counts once however many commands fail", async () => {
  await using logs = await captureLogs();
  const h = harness();
  h.state.meters[A] = {
    last_failure: {
      command: "x",
      oprid: "y",
      reason: "z",
      at: new Date(T0 - 30 * HOUR).toISOString(),
      consecutive: 2,
    },
  };
  h.batches.check(A, "discovered");
  const [seconds, minutes, clock] = [h.command(0), h.command(1), h.command(2)];
  h.settle(seconds, refused);
  h.settle(minutes, refused);
  h.settle(clock, ok);
  const failure = h.state.meters[A].last_failure!;
  assert.equal(failure.consecutive, 3);
  assert.equal(failure.command, "minutes interval 1 min");
  assert.deepEqual(failure.settings, { upload_interval_seconds: 60, upload_interval_minutes: 1 });
  assert.equal(h.state.meters[A].configured, undefined);
  assert.equal(h.batches.has(A), false);
  assert.ok(logs.lines.some((l) =>
    l.level === "error" &&
    l.message ===
      `ALERT meter 33B1225950027: seconds interval 60 s failed (oprid ${seconds.oprid}, ` +
        "command interval_seconds): meter replied code 02"
  ));
  h.batches.check(A, "daily check");
  assert.equal(h.sent.length, 3, "waits after a failure");
});

Deno.test("a failed clock set outside a batch is recorded without a batch's settings", () => {
  const h = harness();
  h.state.meters[A] = {
    configured: {
      day: "20260601",
      settings: {
        upload_interval_seconds: 60,
        upload_interval_minutes: 1,
      },
      at: new Date(T0 - HOUR).toISOString(),
    },
  };
  h.settle(driftClock(A), refused);
  assert.deepEqual(h.state.meters[A].last_failure?.consecutive, 1);
  assert.equal(h.state.meters[A].last_failure?.settings, undefined);
});

Deno.test("commands of requests are no part of any batch", () => {
  const h = harness();
  h.batches.check(A, "discovered");
  const request = { ...h.command(0), request: "r1" };
  assert.equal(h.batches.claim(request), false);
  h.settle(request, refused);
  assert.equal(h.state.meters[A]?.last_failure, undefined);
  assert.ok(h.batches.has(A));
});

Deno.test("excluded meters get nothing; nothing is decided before the state is loaded", () => {
  const h = harness({ exclude: [A] });
  h.batches.check(A, "discovered");
  h.unload();
  h.batches.check(B, "discovered");
  assert.deepEqual(h.sent, []);
  assert.deepEqual(h.reports, []);
});

Deno.test("meters beyond the batch slots wait, oldest first, and start as batches finish", async () => {
  await using logs = await captureLogs();
  const h = harness({ max_parallel_commands: 1 });
  h.batches.checkAll([A, B, C], "discovered");
  assert.ok(h.batches.has(A) && h.batches.has(B));
  assert.equal(h.batches.has(C), false);
  assert.equal(h.batches.waiting, 1);
  assert.deepEqual(h.kinds(C), []);
  h.batches.check(C, "daily check");
  h.ackAll(A);
  assert.ok(h.batches.has(C), "a finished batch frees a slot for the waiting meter");
  assert.equal(h.batches.waiting, 0);
  assert.ok(
    logs.lines.some((l) =>
      l.message === "Configuring 33B1225950029 (discovered: never configured)"
    ),
    "with the trigger it waited with",
  );
});

Deno.test("a forgotten meter leaves the queue", () => {
  const h = harness({ max_parallel_commands: 1 });
  h.batches.checkAll([A, B, C], "discovered");
  h.batches.forget(C);
  assert.equal(h.batches.waiting, 0);
  h.ackAll(A);
  assert.equal(h.batches.has(C), false);
  assert.deepEqual(h.kinds(C), []);
});

Deno.test("startDue starts waiting meters once more slots are configured", () => {
  const h = harness({ max_parallel_commands: 1 });
  h.batches.checkAll([A, B, C], "discovered");
  h.config.meters = MetersConfig.parse({ timezone: "Europe/Vienna", max_parallel_commands: 2 });
  h.batches.startDue();
  assert.ok(h.batches.has(C));
  assert.equal(h.batches.waiting, 0);
});

Deno.test("settings changed while a batch was out are sent once it finishes", () => {
  const h = harness();
  h.batches.check(A, "discovered");
  h.config.meters = MetersConfig.parse({
    timezone: "Europe/Vienna",
    upload_interval_seconds: 300,
  });
  h.ackAll(A);
  assert.deepEqual(h.kinds(A).slice(3), ["interval_seconds", "interval_minutes"]);
  assert.equal(JSON.parse(h.command(3).payload).value, "300");
});

Deno.test("a freed slot goes to the oldest waiting meter only", () => {
  const h = harness({ max_parallel_commands: 1 });
  const D = MeterId.parse("33B1225950030");
  h.batches.checkAll([A, B, C, D], "discovered");
  assert.equal(h.batches.waiting, 2);
  h.ackAll(A);
  assert.ok(h.batches.has(C));
  assert.equal(h.batches.has(D), false);
  assert.equal(h.batches.waiting, 1);
});
