import assert from "node:assert/strict";
import type { Timers } from "../../src/proxy/announcement_gate.ts";
import type { PipelineEvent } from "../../src/proxy/pipeline.ts";
import { type InternalMessage, ReadingIntake } from "../../src/proxy/reading_intake.ts";

const NOW = Date.parse("2026-01-12T15:39:05Z");
const PAYLOAD = new TextEncoder().encode("{}");
const EVENTS: PipelineEvent[] = [{ type: "rejected", code: "not_json", reason: "test" }];

/** Timers that never fire: the tests open the gate themselves. */
const NO_TIMERS: Timers = { set: () => undefined, clear: () => {} };

function setUp({ open = true } = {}) {
  const state = { stopping: false };
  const handled: unknown[][] = [];
  const applied: unknown[][] = [];
  const io: Uint8Array[] = [];
  const received: string[] = [];
  const acks: string[] = [];
  const intake = new ReadingIntake(
    {
      stopping: () => state.stopping,
      lastAnnouncementAt: () => 0,
      stats: { received: (topic) => received.push(topic) },
      pipeline: {
        handle: (topic, _payload, now, replayed) => {
          handled.push([topic, now, replayed]);
          return EVENTS;
        },
        expire: (now) => {
          handled.push(["expire", now]);
          return EVENTS;
        },
      },
      flow: {
        onIo: (payload) => io.push(payload),
        apply: (events, topic, ack) => {
          applied.push([events, topic]);
          ack?.();
        },
      },
    },
    () => NOW,
    NO_TIMERS,
  );
  if (open) intake.gate.open();
  const message = (topic: string, flags: Partial<InternalMessage> = {}): InternalMessage => ({
    topic,
    payload: PAYLOAD,
    dup: false,
    retain: false,
    ...flags,
  });
  const ack = (name: string) => () => acks.push(name);
  return { state, intake, handled, applied, io, received, acks, message, ack };
}

Deno.test("a reading goes through the pipeline at the clock's time, then to the flow", () => {
  const { intake, handled, applied, received, acks, message, ack } = setUp();
  intake.onMessage(message("MQTT_RT_DATA"), ack("rt"));
  assert.deepEqual(received, ["MQTT_RT_DATA"]);
  assert.deepEqual(handled, [["MQTT_RT_DATA", NOW, undefined]]);
  assert.deepEqual(applied, [[EVENTS, "MQTT_RT_DATA"]]);
  assert.deepEqual(acks, ["rt"]);
});

Deno.test("a redelivered message (DUP) is marked redelivered, a retained one retained", () => {
  const { intake, handled, message, ack } = setUp();
  intake.onMessage(message("MQTT_RT_DATA", { dup: true }), ack("dup"));
  intake.onMessage(message("MQTT_ENY_NOW", { retain: true }), ack("retained"));
  intake.onMessage(message("MQTT_DAY_DATA", { dup: true, retain: true }), ack("both"));
  assert.deepEqual(handled.map(([, , replayed]) => replayed), [
    "redelivered",
    "retained",
    "redelivered",
  ]);
});

Deno.test("digital I/O goes to the flow's I/O handling, not the pipeline", () => {
  const { intake, handled, io, received, message, ack } = setUp();
  intake.onMessage(message("MQTT_TELEIND"), ack("io"));
  assert.deepEqual(io, [PAYLOAD]);
  assert.deepEqual(received, ["MQTT_TELEIND"]);
  assert.deepEqual(handled, []);
});

Deno.test("while stopping nothing is taken or acknowledged", () => {
  const { state, intake, handled, applied, io, received, acks, message, ack } = setUp();
  state.stopping = true;
  intake.onMessage(message("MQTT_RT_DATA"), ack("rt"));
  intake.onMessage(message("MQTT_TELEIND"), ack("io"));
  assert.deepEqual([handled, applied, io, received, acks], [[], [], [], [], []]);
});

Deno.test("readings wait for the announcements, then are taken in order", () => {
  const { intake, handled, received, acks, message, ack } = setUp({ open: false });
  intake.onMessage(message("MQTT_RT_DATA"), ack("rt"));
  intake.onMessage(message("MQTT_ENY_NOW"), ack("eny"));
  assert.deepEqual([handled, received, acks], [[], [], []]);
  intake.gate.open();
  assert.deepEqual(received, ["MQTT_RT_DATA", "MQTT_ENY_NOW"]);
  assert.deepEqual(acks, ["rt", "eny"]);
});

Deno.test("readings held when the proxy stops are released but neither taken nor acknowledged", () => {
  const { state, intake, handled, received, acks, message, ack } = setUp({ open: false });
  intake.onMessage(message("MQTT_RT_DATA"), ack("rt"));
  state.stopping = true;
  intake.gate.open();
  assert.equal(intake.gate.closed, false);
  assert.deepEqual([handled, received, acks], [[], [], []]);
});

Deno.test("expiry asks the pipeline at the clock's time and applies what it gave up", () => {
  const { intake, handled, applied } = setUp();
  intake.expire();
  assert.deepEqual(handled, [["expire", NOW]]);
  assert.deepEqual(applied, [[EVENTS, undefined]]);
});
