/** What settled commands mean for their requests. */
import assert from "node:assert/strict";
import {
  failure,
  mayHaveTakenEffect,
  resultData,
} from "../../src/config_sender/command_outcome.ts";
import {
  clockCommand,
  intervalReadCommand,
  minutesIntervalCommand,
  relayCommand,
  secondsIntervalCommand,
} from "../../src/protocol/commands.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";

const A = MeterId.parse("33B1225950027");
const OPRID = "0".repeat(32);

Deno.test("only an unanswered command says what it may have done", () => {
  const relay = relayCommand(A, true, OPRID);
  const reason = "no acknowledgement after 3 attempts";
  assert.equal(
    failure(relay, { ok: false, attempts: 3, outcome: "unanswered", reason }),
    `${reason}; sent, not acknowledged: the relay may have switched`,
  );
  assert.equal(failure(relay, { ok: false, attempts: 1, outcome: "refused", reason: "r" }), "r");
  assert.equal(failure(relay, { ok: false, attempts: 0, outcome: "not_sent", reason: "n" }), "n");
  assert.equal(mayHaveTakenEffect({ action: "sync_time", id: A }), "the meter may have applied it");
  assert.equal(
    mayHaveTakenEffect({ action: "relay", id: A, on: false }),
    "the relay may have switched",
  );
});

Deno.test("each command kind adds its value to the answer", () => {
  const reply = { id: A, oprid: OPRID, code: "01" };
  assert.deepEqual(resultData(clockCommand(A, "20260601100000", OPRID), reply), {
    time: "20260601100000",
  });
  assert.deepEqual(resultData(secondsIntervalCommand(A, 300, OPRID), reply), { seconds: 300 });
  assert.deepEqual(resultData(minutesIntervalCommand(A, 5, OPRID), reply), { minutes: 5 });
  const read = intervalReadCommand(A, "minutes", OPRID);
  assert.deepEqual(resultData(read, { ...reply, Cmd: "0001", value: "15" }), { minutes: 15 });
  assert.deepEqual(resultData(read, reply), { minutes: null }, "a reply without the value");
  assert.deepEqual(resultData(relayCommand(A, true, OPRID), { ...reply, do1: "0" }), {
    state: "OFF",
  });
  assert.deepEqual(resultData(relayCommand(A, true, OPRID), reply), { state: "ON" });
});
