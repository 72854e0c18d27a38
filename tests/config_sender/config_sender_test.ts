/**
 * The configuration flow against real parts: two real Mosquitto brokers,
 * simulated meters on the internal one, announcements on the central one,
 * and the state file in a real temp directory. The clock is injected where a
 * test needs another day or hour.
 */
import assert from "node:assert/strict";
import { Config } from "../../src/config/schema.ts";
import { ConfigSender } from "../../src/config_sender/config_sender.ts";
import type { ConfigSenderState } from "../../src/config_sender/meter_state.ts";
import { STATE_FILE } from "../../src/config_sender/state_store.ts";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import type { BridgeEvent } from "../../src/worker/messages.ts";
import { MeterClock } from "../../src/protocol/meter_time.ts";
import type { ReceivedCommand, SimulatedMeter } from "../../src/simulator/simulated_meter.ts";
import { captureLogs } from "../helpers/log_capture.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { sleep, until } from "../helpers/wait.ts";
import { startMeter } from "../helpers/simulated_meters.ts";

const TIME_ZONE = "Europe/Vienna";
const METER_A = "33B1225950027" as MeterId;
const METER_B = "33B1225950028" as MeterId;
/** A factory-fresh meter clock: January 2005. */
const CLOCK_2005 = Date.UTC(2005, 0, 18, 21, 15) - Date.now();

/** Two brokers, a state directory and helpers to build senders and meters. */
async function setUp() {
  const internal = await startMosquitto();
  const central = await startMosquitto();
  const stateDir = await Deno.makeTempDir({ prefix: "kpm33b-config-sender-" });
  const announcer = await TestClient.connect(central.url);
  const meters: SimulatedMeter[] = [];
  const senders: ConfigSender[] = [];
  const config = (meters: Record<string, unknown> = {}) =>
    Config.parse({
      internal_broker: { url: internal.url, client_id: "cs-test" },
      central_broker: { url: central.url, client_id: "cs-test" },
      state_dir: stateDir,
      meters: { timezone: TIME_ZONE, ack_timeout_seconds: 1, command_retries: 2, ...meters },
    });
  return {
    internal,
    central,
    stateDir,
    config,
    /** Announces a meter the way the proxy does (retained). */
    async announce(id: MeterId) {
      await announcer.publish(
        `kpm33b/discovery/${id}`,
        JSON.stringify({ id, model: "KPM33B", first_seen: new Date().toISOString() }),
        { qos: 1, retain: true },
      );
    },
    /** Clears a meter's retained announcement, as when it is removed. */
    async clear(id: MeterId) {
      await announcer.publish(`kpm33b/discovery/${id}`, "", { qos: 1, retain: true });
    },
    /** Publishes an announcement of `id` on the topic of `topicId`. */
    async announceAs(topicId: MeterId, id: MeterId) {
      await announcer.publish(
        `kpm33b/discovery/${topicId}`,
        JSON.stringify({ id, model: "KPM33B", first_seen: new Date().toISOString() }),
        { qos: 1, retain: true },
      );
    },
    async meter(id: MeterId, options: { clockOffsetMs?: number; dropAcks?: number } = {}) {
      const meter = await startMeter(internal.url, id, TIME_ZONE, options);
      meters.push(meter);
      return meter;
    },
    async sender(
      config: Config,
      options: ConstructorParameters<typeof ConfigSender>[1] = {},
      emit: ConstructorParameters<typeof ConfigSender>[2] = () => {},
    ): Promise<ConfigSender> {
      const sender = new ConfigSender(config, { retryDelayMs: 10, ...options }, emit);
      senders.push(sender);
      await sender.ready();
      return sender;
    },
    async stopSender(sender: ConfigSender) {
      senders.splice(senders.indexOf(sender), 1);
      await sender.stop(1000);
    },
    async state() {
      return JSON.parse(await Deno.readTextFile(`${stateDir}/${STATE_FILE}`));
    },
    /** The state file once it satisfies `predicate` (it is written asynchronously). */
    async stateWhere(predicate: (state: ConfigSenderState) => boolean): Promise<ConfigSenderState> {
      const deadline = Date.now() + 5000;
      while (true) {
        const state = await this.state().catch(() => undefined);
        if (state !== undefined && predicate(state)) return state;
        if (Date.now() > deadline) {
          throw new Error(`state file not as expected: ${JSON.stringify(state)}`);
        }
        await sleep(25);
      }
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(senders.map((sender) => sender.stop(1000)));
      await Promise.all(meters.map((meter) => meter.stop()));
      await announcer[Symbol.asyncDispose]();
      await internal.stop();
      await central.stop();
      await Deno.remove(stateDir, { recursive: true });
    },
  };
}

/** Command names a meter received, e.g. `COMMOD_SET 0000 60`, `SETTIME`. */
function names(commands: readonly ReceivedCommand[]): string[] {
  return commands.map(({ topic, payload }) => {
    const name = topic.replace(/^MQTT_/, "").replace(/_[0-9A-Z]{8}$/, "");
    return name === "COMMOD_SET" ? `${name} ${payload.Cmd} ${payload.value}` : name;
  });
}

function assertOprids(commands: readonly ReceivedCommand[]): void {
  for (const { payload } of commands) {
    assert.equal(typeof payload.oprid, "string");
    assert.equal((payload.oprid as string).length, 32, `oprid ${payload.oprid}`);
  }
}

const configured = (meter: SimulatedMeter) => () =>
  meter.commands.filter((c) => c.answered).length >= 3;

Deno.test("a discovered meter gets both intervals and its clock set and acknowledged", async () => {
  await using env = await setUp();
  const meter = await env.meter(METER_A, { clockOffsetMs: CLOCK_2005 });
  assert.match(meter.meterTime(), /^2005/);
  // Announced before the sender starts: learned from the retained announcement.
  await env.announce(METER_A);
  const sender = await env.sender(
    env.config({ upload_interval_seconds: 30, upload_interval_minutes: 5 }),
  );

  await until(configured(meter), "three acknowledged commands");
  assert.deepEqual(names(meter.commands), ["COMMOD_SET 0000 30", "COMMOD_SET 0001 5", "SETTIME"]);
  assertOprids(meter.commands);
  assert.equal(new Set(meter.commands.map((c) => c.payload.oprid)).size, 3);
  assert.equal(meter.secondsInterval, 30);
  assert.equal(meter.minutesInterval, 5);
  const gateway = new MeterClock(TIME_ZONE).meterTimeAt(Date.now());
  assert.ok(Math.abs(meter.clockOffsetMs) < 3000, `meter clock ${meter.meterTime()} vs ${gateway}`);

  await until(() => sender.meterState(METER_A)?.configured !== undefined, "configured state");
  // The state file follows (written asynchronously).
  const state = await env.stateWhere((s) => s.meters[METER_A]?.configured !== undefined);
  const saved = state.meters[METER_A];
  assert.deepEqual(saved?.configured?.settings, {
    upload_interval_seconds: 30,
    upload_interval_minutes: 5,
  });
  assert.equal(saved?.configured?.day, gateway.slice(0, 8));
  assert.equal(saved?.last_failure, undefined);
});

Deno.test("a meter that never acknowledges is retried with the same oprid, then raises an ALERT", async () => {
  await using logs = await captureLogs();
  await using env = await setUp();
  const meter = await env.meter(METER_A, { dropAcks: 100 });
  const sender = await env.sender(env.config({ command_retries: 2 }));
  await env.announce(METER_A);

  await until(() => logs.lines.some((l) => l.message.includes("ALERT")), "an ALERT", 15_000);
  const alerts = logs.lines.filter((l) => l.message.includes("ALERT"));
  assert.equal(alerts.length, 1, JSON.stringify(alerts));
  const [alert] = alerts;
  const [first] = meter.commands;
  assert.ok(alert !== undefined && first !== undefined);
  assert.equal(alert.level, "error");
  assert.ok(alert.message.includes(METER_A), alert.message);
  assert.ok(alert.message.includes("seconds interval 60 s"), alert.message);
  assert.ok(alert.message.includes(first.payload.oprid as string), alert.message);
  assert.ok(alert.message.includes("no acknowledgement after 3 attempts"), alert.message);
  // The first command was sent three times with one oprid before the meter moved on.
  assert.deepEqual(
    meter.commands.slice(0, 3).map((c) => [c.topic, c.payload.oprid]),
    Array(3).fill([first.topic, first.payload.oprid]),
  );
  assertOprids(meter.commands);

  await until(() => sender.meterState(METER_A)?.last_failure !== undefined, "failure in state");
  assert.equal(sender.meterState(METER_A)?.last_failure?.oprid, first.payload.oprid);
  assert.equal(sender.meterState(METER_A)?.configured, undefined);
});

Deno.test("a restart on the same day sends nothing; the next day the configuration goes out once", async () => {
  await using env = await setUp();
  const meter = await env.meter(METER_A);
  await env.announce(METER_A);
  const first = await env.sender(env.config());
  await until(configured(meter), "first configuration");
  await until(() => first.meterState(METER_A)?.configured !== undefined, "configured state");
  await env.stopSender(first);

  const sameDay = await env.sender(env.config());
  await until(() => sameDay.meterState(METER_A) !== undefined, "state loaded");
  // No command goes out on a restart the same day.
  await sleep(1500);
  assert.equal(meter.commands.length, 3, JSON.stringify(names(meter.commands)));
  await env.stopSender(sameDay);

  const tomorrow = Date.now() + 86_400_000;
  const nextDay = await env.sender(env.config(), { now: () => tomorrow + (Date.now() % 1000) });
  await until(() => meter.commands.length >= 6, "second configuration");
  // No fourth command follows the second configuration.
  await sleep(1500);
  assert.deepEqual(names(meter.commands.slice(3)), [
    "COMMOD_SET 0000 60",
    "COMMOD_SET 0001 1",
    "SETTIME",
  ]);
  const clock = meter.commands[5]!.payload.time as string;
  assert.equal(clock.slice(0, 8), new MeterClock(TIME_ZONE).meterTimeAt(tomorrow).slice(0, 8));
  await until(() => nextDay.meterState(METER_A)?.configured?.day === clock.slice(0, 8), "day");
  assertOprids(meter.commands);
});

Deno.test("a configuration change updates only the meters whose settings changed", async () => {
  await using env = await setUp();
  const a = await env.meter(METER_A);
  const b = await env.meter(METER_B);
  const sender = await env.sender(env.config());
  await env.announce(METER_A);
  await env.announce(METER_B);
  await until(() => configured(a)() && configured(b)(), "both configured");
  await until(
    () =>
      sender.meterState(METER_B)?.configured !== undefined &&
      sender.meterState(METER_A)?.configured !== undefined,
    "both in state",
  );

  sender.reconfigure(env.config({ overrides: { [METER_B]: { upload_interval_seconds: 300 } } }));
  await until(
    () => sender.meterState(METER_B)?.configured?.settings.upload_interval_seconds === 300,
    "B reconfigured",
  );
  // Meter A gets no command.
  await sleep(1000);
  assert.equal(a.commands.length, 3, JSON.stringify(names(a.commands)));
  // The clock was set minutes ago with the first configuration: it is not sent again.
  assert.deepEqual(names(b.commands.slice(3)), ["COMMOD_SET 0000 300", "COMMOD_SET 0001 1"]);
  assert.equal(b.secondsInterval, 300);
  assertOprids([...a.commands, ...b.commands]);
});

Deno.test("a drifting clock is set within seconds, at most once per hour", async () => {
  await using logs = await captureLogs();
  await using env = await setUp();
  const meter = await env.meter(METER_A);
  let offsetMs = 0;
  const sender = await env.sender(env.config(), { now: () => Date.now() + offsetMs });
  await env.announce(METER_A);
  await until(configured(meter), "configured");
  await until(() => sender.meterState(METER_A)?.configured !== undefined, "configured state");
  const settimes = () => meter.commands.filter((c) => c.topic.startsWith("MQTT_SETTIME_")).length;
  const drift = { type: "clock_drift", id: METER_A, drift_seconds: -600 } as const;

  // The clock was just set with the configuration: a drift report now is not acted on.
  sender.onEvent(drift);
  // A drift report right after the configuration sets no clock.
  await sleep(500);
  assert.equal(settimes(), 1);

  offsetMs = 3_601_000;
  const reported = Date.now();
  sender.onEvent(drift);
  sender.onEvent(drift);
  await until(() => settimes() === 2, "clock set after drift");
  assert.ok(Date.now() - reported < 5000);
  const acks = () => logs.lines.filter((l) => l.message.includes("acknowledged clock")).length;
  // The hour counts from the acknowledgement: let it arrive before the clock jumps.
  await until(() => acks() === 2, "acknowledgement of the clock set");
  sender.onEvent(drift);
  offsetMs += 1_800_000;
  sender.onEvent(drift);
  // No second clock set within the hour.
  await sleep(1000);
  assert.equal(settimes(), 2, "no second set within the hour");

  offsetMs += 1_800_000;
  sender.onEvent(drift);
  await until(() => settimes() === 3, "clock set an hour later");
  assert.equal(meter.commands.length, 5, JSON.stringify(names(meter.commands)));
  assertOprids(meter.commands);
});

Deno.test("a cleared announcement forgets the meter; a mismatched one is ignored", async () => {
  await using env = await setUp();
  const meter = await env.meter(METER_A);
  const sender = await env.sender(env.config());
  await env.announce(METER_A);
  await until(configured(meter), "configured");
  await until(() => sender.meterState(METER_A)?.configured !== undefined, "configured state");

  await env.clear(METER_A);
  await until(() => sender.meterState(METER_A) === undefined, "meter forgotten");
  // The state file follows (written asynchronously).
  await env.stateWhere((s) => s.meters[METER_A] === undefined);

  // An announcement whose payload names another meter than its topic configures nothing.
  await env.announceAs(METER_B, METER_A);
  // The mismatched announcement configures nothing.
  await sleep(500);
  assert.equal(meter.commands.length, 3);
  assert.equal(sender.meterState(METER_B), undefined);
});

Deno.test("requests: read, set and relay commands answer with their result; summaries follow", async () => {
  await using env = await setUp();
  const meter = await env.meter(METER_A);
  const events: BridgeEvent[] = [];
  const sender = await env.sender(
    env.config({ relay_control: [METER_A] }),
    {},
    (event) => events.push(event),
  );
  await env.announce(METER_A);
  await until(() => meter.commands.length >= 3, "the configuration");
  const summary = () =>
    events.findLast((e) => e.type === "meter_config" && e.id === METER_A) as
      | Extract<BridgeEvent, { type: "meter_config" }>
      | undefined;
  await until(() => summary()?.summary.configuration === "configured", "configured summary");
  assert.deepEqual(summary()!.summary.intervals, { seconds: 60, minutes: 1 });
  assert.ok(events.some((e) => e.type === "ack_latency" && e.seconds >= 0 && e.seconds < 1));

  const result = (request: string) =>
    (events.find((e) => e.type === "command_result" && e.request === request) as
      | Extract<BridgeEvent, { type: "command_result" }>
      | undefined)?.result;
  sender.onEvent({
    type: "command_request",
    request: "set",
    command: { action: "set_interval", id: METER_A, seconds: 300 },
  });
  await until(() => result("set") !== undefined, "set result");
  assert.deepEqual(result("set"), { ok: true, data: { id: METER_A, seconds: 300 } });
  await until(() => summary()!.summary.intervals.seconds === 300, "acknowledged interval");

  sender.onEvent({
    type: "command_request",
    request: "read",
    command: { action: "read_interval", id: METER_A },
  });
  await until(() => result("read") !== undefined, "read result");
  assert.deepEqual(result("read"), { ok: true, data: { id: METER_A, seconds: 300, minutes: 1 } });

  sender.onEvent({
    type: "command_request",
    request: "relay",
    command: { action: "relay", id: METER_A, on: true },
  });
  await until(() => result("relay") !== undefined, "relay result");
  assert.deepEqual(result("relay"), { ok: true, data: { id: METER_A, state: "ON" } });
  assert.equal(meter.outputs & 1, 1);

  // A relay request for a meter outside meters.relay_control (e.g. forged on the cluster
  // topic) is refused here too, without a command.
  const before = meter.commands.length;
  sender.onEvent({
    type: "command_request",
    request: "forged",
    command: { action: "relay", id: METER_B, on: true },
  });
  await until(() => result("forged") !== undefined, "forged result");
  assert.deepEqual(result("forged"), {
    ok: false,
    error: `meter ${METER_B} is not known to the configuration flow`,
  });
  sender.onEvent({
    type: "command_request",
    request: "not-allowed",
    command: { action: "relay", id: METER_A, on: false },
  });
  sender.reconfigure(env.config({ relay_control: [] }));
  await until(() => result("not-allowed") !== undefined, "refused relay result");
  assert.deepEqual(result("not-allowed"), {
    ok: false,
    error: `meter ${METER_A} is not in meters.relay_control`,
  });
  assert.equal(meter.commands.length, before);

  // A proxy in another process (re)started: it gets every meter's state again.
  const reports = () => events.filter((e) => e.type === "meter_config").length;
  const beforeResync = reports();
  sender.onEvent({ type: "resync" });
  await until(() => reports() > beforeResync, "the meter's state reported again");
});

Deno.test("a request a meter never acknowledges fails without delaying its configuration", async () => {
  await using env = await setUp();
  const meter = await env.meter(METER_A);
  const events: BridgeEvent[] = [];
  const sender = await env.sender(
    env.config({ command_retries: 0, relay_control: [METER_A] }),
    {},
    (e) => events.push(e),
  );
  await env.announce(METER_A);
  await until(() => meter.commands.length >= 3, "the configuration");
  await env.stateWhere((state) => state.meters[METER_A]?.configured !== undefined);
  await meter.stop();
  sender.onEvent({
    type: "command_request",
    request: "relay",
    command: { action: "relay", id: METER_A, on: false },
  });
  await until(
    () => events.some((e) => e.type === "command_result" && e.request === "relay"),
    "relay result",
  );
  const result = events.find((e) => e.type === "command_result" && e.request === "relay");
  assert.deepEqual(result, {
    type: "command_result",
    request: "relay",
    result: {
      ok: false,
      error: "relay DO1 off: no acknowledgement after 1 attempt; sent, not acknowledged: " +
        "the relay may have switched",
    },
  });
  const last = events.findLast((e) => e.type === "meter_config" && e.id === METER_A);
  assert.equal(
    last?.type === "meter_config" ? last.summary.last_error : undefined,
    "relay DO1 off: no acknowledgement after 1 attempt; sent, not acknowledged: " +
      "the relay may have switched",
  );
  assert.equal(last?.type === "meter_config" ? last.summary.configuration : "", "configured");
  assert.equal((await env.state()).meters[METER_A].last_failure, undefined);
});

Deno.test("identical requests in a row share one command and one answer; a meter takes at most 5 different ones", async () => {
  await using env = await setUp();
  const meter = await env.meter(METER_A, { dropAcks: Number.MAX_SAFE_INTEGER });
  const events: BridgeEvent[] = [];
  const sender = await env.sender(
    env.config({ command_retries: 0, relay_control: [METER_A] }),
    {},
    (e) => events.push(e),
  );
  await env.announce(METER_A);
  await until(() => meter.commands.length >= 3, "the configuration");
  const results = () => events.filter((e) => e.type === "command_result");
  for (let i = 0; i < 1000; i++) {
    sender.onEvent({
      type: "command_request",
      request: `sync${i}`,
      command: { action: "sync_time", id: METER_A },
    });
  }
  const distinct = [
    { action: "read_interval", id: METER_A },
    { action: "set_interval", id: METER_A, seconds: 60 },
    { action: "set_interval", id: METER_A, seconds: 300 },
    { action: "relay", id: METER_A, on: true },
    { action: "relay", id: METER_A, on: false },
  ] as const;
  distinct.forEach((command, i) =>
    sender.onEvent({ type: "command_request", request: `d${i}`, command })
  );
  await until(() => results().length > 0, "the refusal");
  assert.deepEqual(results(), [{
    type: "command_result",
    request: "d4",
    result: {
      ok: false,
      error: `5 requests for meter ${METER_A} are in progress; try again once they are answered`,
    },
  }]);
  await until(() => results().length === 1000 + 5, "every request answered", 20_000);
  const sync = results().filter((e) => e.type === "command_result" && e.request.startsWith("sync"));
  assert.equal(
    new Set(sync.map((e) => JSON.stringify(e.type === "command_result" && e.result))).size,
    1,
  );
  const clockSets = meter.commands.filter((c) => c.topic.startsWith("MQTT_SETTIME_"));
  assert.equal(clockSets.length, 2, "one for the configuration, one for the 1000 requests");
});
