/** Decoding of command replies and announcements, against a fake port. */
import assert from "node:assert/strict";
import { SenderInbox } from "../../src/config_sender/sender_inbox.ts";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import type { CommandReply } from "../../src/protocol/uplink.ts";
import { captureLogs } from "../helpers/log_capture.ts";

const A = "33B1225950027";
const bytes = (value: unknown) =>
  new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));

function harness(settles = true) {
  const replies: [string, CommandReply][] = [];
  const announced: MeterId[] = [];
  const cleared: MeterId[] = [];
  const inbox = new SenderInbox({
    maxPayloadBytes: () => 1024,
    reply: (topic, reply) => {
      replies.push([topic, reply]);
      return settles;
    },
    announced: (id) => announced.push(id),
    cleared: (id) => cleared.push(id),
  });
  return { inbox, replies, announced, cleared };
}

const announcement = (id: string) => ({ id, model: "KPM33B", first_seen: "2026-06-01T08:00:00Z" });

Deno.test("a valid reply on a reply topic goes to the dispatcher; other topics are ignored", () => {
  const h = harness();
  const reply = { id: A, oprid: "a".repeat(32), code: "01" };
  h.inbox.onReply("MQTT_COMMOD_SET_REP", bytes(reply));
  h.inbox.onReply("MQTT_RT_DATA", bytes(reply));
  assert.deepEqual(h.replies, [["MQTT_COMMOD_SET_REP", reply]]);
});

Deno.test("a bad or oversized reply is rejected with a warning; an unmatched one is logged at debug", async () => {
  await using logs = await captureLogs();
  const h = harness(false);
  h.inbox.onReply("MQTT_COMMOD_SET_REP", bytes("{not json"));
  h.inbox.onReply("MQTT_COMMOD_SET_REP", bytes({ id: A, oprid: "x", code: "07" }));
  h.inbox.onReply(
    "MQTT_COMMOD_SET_REP",
    bytes({ id: A, oprid: "x", code: "01", pad: "x".repeat(2000) }),
  );
  assert.equal(h.replies.length, 0);
  const warnings = logs.lines.filter((l) => l.level === "warning");
  assert.equal(warnings.length, 3);
  assert.ok(warnings.every((l) => l.message.startsWith("Rejected MQTT_COMMOD_SET_REP reply (")));
  h.inbox.onReply("MQTT_COMMOD_SET_REP", bytes({ id: A, oprid: "x", code: "01" }));
  assert.ok(logs.lines.some((l) =>
    l.level === "debug" &&
    l.message === `Reply on MQTT_COMMOD_SET_REP from ${A} matches no outstanding command (oprid x)`
  ));
});

Deno.test("an announcement names its meter; a cleared one removes it", () => {
  const h = harness();
  h.inbox.onAnnouncement(`kpm33b/discovery/${A}`, bytes(announcement(A)));
  h.inbox.onAnnouncement(`kpm33b/discovery/${A}`, new Uint8Array());
  h.inbox.onAnnouncement("kpm33b/discovery/not-a-meter", new Uint8Array());
  assert.deepEqual(h.announced, [A]);
  assert.deepEqual(h.cleared, [A]);
});

Deno.test("an unreadable or mismatched announcement is ignored with a warning", async () => {
  await using logs = await captureLogs();
  const h = harness();
  h.inbox.onAnnouncement(`kpm33b/discovery/${A}`, bytes("{"));
  h.inbox.onAnnouncement(`kpm33b/discovery/${A}`, bytes(announcement("33B1225950028")));
  assert.deepEqual(h.announced, []);
  assert.deepEqual(logs.lines.map((l) => l.message), [
    `Ignoring an unreadable announcement on "kpm33b/discovery/${A}"`,
    `Ignoring an announcement of 33B1225950028 on "kpm33b/discovery/${A}"`,
  ]);
});
