import assert from "node:assert/strict";
import fc from "fast-check";
import {
  clockCommand,
  COMMAND_REPLY_TOPICS,
  intervalReadCommand,
  isCommandReplyTopic,
  matchReply,
  type MeterCommand,
  minutesIntervalCommand,
  Oprid,
  relayCommand,
  secondsIntervalCommand,
} from "../../src/protocol/commands.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";
import {
  MINUTES_LEVEL_INTERVALS,
  SECONDS_LEVEL_INTERVALS,
} from "../../src/protocol/upload_interval.ts";
import type { CommandReply } from "../../src/protocol/uplink.ts";

const A = MeterId.parse("33B1225950027");
const B = MeterId.parse("33B1225950028");
const OPRID = "0123456789abcdef0123456789abcdef";
const OTHER_OPRID = "0".repeat(31) + "1";

const ID_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".split("");
const HEX = "0123456789abcdef".split("");
const meterIdArb = fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 13, maxLength: 13 })
  .map((text) => MeterId.parse(text));
const opridArb = fc.string({ unit: fc.constantFrom(...HEX), minLength: 32, maxLength: 32 });

function reply(command: MeterCommand, code: "01" | "02" = "01"): CommandReply {
  return { id: command.id, oprid: command.oprid, code };
}

Deno.test("a seconds interval command goes to MQTT_COMMOD_SET_<last 8> with Cmd 0000", () => {
  const command = secondsIntervalCommand(A, 60, OPRID);
  assert.deepEqual(command, {
    kind: "interval_seconds",
    value: 60,
    id: "33B1225950027",
    oprid: OPRID,
    topic: "MQTT_COMMOD_SET_25950027",
    payload: `{"oprid":"${OPRID}","Cmd":"0000","value":"60","types":"1"}`,
    replyTopic: "MQTT_COMMOD_SET_REP",
    summary: "seconds interval 60 s",
  });
});

Deno.test("a minutes interval command goes to MQTT_COMMOD_SET_<last 8> with Cmd 0001", () => {
  const command = minutesIntervalCommand(A, 1440, OPRID);
  assert.deepEqual(command, {
    kind: "interval_minutes",
    value: 1440,
    id: "33B1225950027",
    oprid: OPRID,
    topic: "MQTT_COMMOD_SET_25950027",
    payload: `{"oprid":"${OPRID}","Cmd":"0001","value":"1440","types":"1"}`,
    replyTopic: "MQTT_COMMOD_SET_REP",
    summary: "minutes interval 1440 min",
  });
});

Deno.test("a clock command goes to MQTT_SETTIME_<last 8> with the time as given", () => {
  const command = clockCommand(A, "20260112163900", OPRID);
  assert.deepEqual(command, {
    kind: "clock",
    time: "20260112163900",
    id: "33B1225950027",
    oprid: OPRID,
    topic: "MQTT_SETTIME_25950027",
    payload: `{"oprid":"${OPRID}","time":"20260112163900"}`,
    replyTopic: "MQTT_METER_TIME_REP",
    summary: "clock 20260112163900",
  });
});

Deno.test("interval values are sent as decimal strings", () => {
  const seconds = JSON.parse(secondsIntervalCommand(B, 3600, OPRID).payload);
  const minutes = JSON.parse(minutesIntervalCommand(B, 5, OPRID).payload);
  assert.equal(seconds.value, "3600");
  assert.equal(minutes.value, "5");
  assert.equal(typeof seconds.types, "string");
  assert.equal(secondsIntervalCommand(B, 30, OPRID).topic, "MQTT_COMMOD_SET_25950028");
});

Deno.test("Oprid accepts exactly 32 lower-case hexadecimal digits", () => {
  for (
    const text of [OPRID, OTHER_OPRID, "f".repeat(32), crypto.randomUUID().replaceAll("-", "")]
  ) {
    assert.equal(Oprid.safeParse(text).success, true, text);
    assert.equal(Oprid.parse(text), text);
  }
});

Deno.test("Oprid rejects wrong lengths, upper case and non-hex characters", () => {
  const bad = [
    "",
    "0".repeat(31),
    "0".repeat(33),
    "0123456789ABCDEF0123456789ABCDEF",
    "0123456789abcdef0123456789abcdeF",
    "g".repeat(32),
    "0123456789abcdef-123456789abcdef",
    " " + "0".repeat(31),
    crypto.randomUUID(),
  ];
  for (const text of bad) {
    const result = Oprid.safeParse(text);
    assert.equal(result.success, false, text);
  }
  const result = Oprid.safeParse("0".repeat(31));
  assert.equal(result.success, false);
  assert.equal(result.error?.issues[0]?.message, "oprid must be exactly 32 hexadecimal characters");
});

Deno.test("isCommandReplyTopic recognises exactly the reply topics of the commands built here", () => {
  assert.deepEqual([...COMMAND_REPLY_TOPICS], [
    "MQTT_COMMOD_SET_REP",
    "MQTT_METER_TIME_REP",
    "MQTT_COMMOD_READ_REP",
    "MQTT_TELECTRL_REP",
  ]);
  for (const topic of COMMAND_REPLY_TOPICS) assert.equal(isCommandReplyTopic(topic), true);
  for (
    const topic of [
      "MQTT_SYS_SET_REP",
      "MQTT_COMMOD_SET_25950027",
      "mqtt_commod_set_rep",
      "MQTT_COMMOD_SET_REP/",
      "",
    ]
  ) {
    assert.equal(isCommandReplyTopic(topic), false, topic);
  }
});

Deno.test("matchReply: code 01 on the reply topic with the same oprid and id is a success", () => {
  const interval = secondsIntervalCommand(A, 60, OPRID);
  const clock = clockCommand(A, "20260112163900", OPRID);
  assert.equal(matchReply(interval, "MQTT_COMMOD_SET_REP", reply(interval)), "success");
  assert.equal(matchReply(clock, "MQTT_METER_TIME_REP", reply(clock)), "success");
});

Deno.test("matchReply: code 02 on the reply topic with the same oprid and id is a failure", () => {
  const interval = minutesIntervalCommand(A, 15, OPRID);
  const clock = clockCommand(A, "20260112163900", OPRID);
  assert.equal(matchReply(interval, "MQTT_COMMOD_SET_REP", reply(interval, "02")), "failure");
  assert.equal(
    matchReply(clock, "MQTT_METER_TIME_REP", { ...reply(clock, "02"), msg: "bad time" }),
    "failure",
  );
});

Deno.test("matchReply: another topic, oprid or meter makes a reply unrelated", () => {
  const interval = secondsIntervalCommand(A, 60, OPRID);
  const clock = clockCommand(A, "20260112163900", OPRID);
  for (const code of ["01", "02"] as const) {
    assert.equal(matchReply(interval, "MQTT_METER_TIME_REP", reply(interval, code)), "unrelated");
    assert.equal(matchReply(clock, "MQTT_COMMOD_SET_REP", reply(clock, code)), "unrelated");
    assert.equal(matchReply(interval, "MQTT_COMMOD_READ_REP", reply(interval, code)), "unrelated");
    assert.equal(
      matchReply(interval, "MQTT_COMMOD_SET_REP", { ...reply(interval, code), oprid: OTHER_OPRID }),
      "unrelated",
    );
    assert.equal(
      matchReply(interval, "MQTT_COMMOD_SET_REP", { ...reply(interval, code), id: B }),
      "unrelated",
    );
  }
});

Deno.test("any meter id and supported interval address the last 8 id characters and echo the oprid", () => {
  fc.assert(
    fc.property(
      meterIdArb,
      opridArb,
      fc.constantFrom(...SECONDS_LEVEL_INTERVALS),
      fc.constantFrom(...MINUTES_LEVEL_INTERVALS),
      (id, oprid, seconds, minutes) => {
        const suffix = id.slice(5);
        assert.equal(suffix.length, 8);
        const s = secondsIntervalCommand(id, seconds, oprid);
        const m = minutesIntervalCommand(id, minutes, oprid);
        const c = clockCommand(id, "20260112163900", oprid);
        assert.equal(s.topic, `MQTT_COMMOD_SET_${suffix}`);
        assert.equal(m.topic, `MQTT_COMMOD_SET_${suffix}`);
        assert.equal(c.topic, `MQTT_SETTIME_${suffix}`);
        assert.deepEqual(JSON.parse(s.payload), {
          oprid,
          Cmd: "0000",
          value: String(seconds),
          types: "1",
        });
        assert.deepEqual(JSON.parse(m.payload), {
          oprid,
          Cmd: "0001",
          value: String(minutes),
          types: "1",
        });
        assert.equal(JSON.parse(c.payload).oprid, oprid);
        for (const command of [s, m, c]) {
          assert.equal(command.id, id);
          assert.equal(command.oprid, oprid);
          assert.equal(Oprid.parse(JSON.parse(command.payload).oprid), oprid);
          assert.equal(matchReply(command, command.replyTopic, reply(command)), "success");
        }
      },
    ),
  );
});

Deno.test("an interval read goes to MQTT_COMMOD_READ_<last 8> and is answered on MQTT_COMMOD_READ_REP", () => {
  const seconds = intervalReadCommand(A, "seconds", OPRID);
  assert.deepEqual(seconds, {
    kind: "read_interval_seconds",
    level: "seconds",
    id: "33B1225950027",
    oprid: OPRID,
    topic: "MQTT_COMMOD_READ_25950027",
    payload: `{"oprid":"${OPRID}","Cmd":"0000","types":"1"}`,
    replyTopic: "MQTT_COMMOD_READ_REP",
    summary: "read seconds interval",
  });
  const minutes = intervalReadCommand(A, "minutes", OPRID);
  assert.equal(minutes.kind, "read_interval_minutes");
  assert.equal(minutes.level, "minutes");
  assert.equal(JSON.parse(minutes.payload).Cmd, "0001");
  assert.equal(matchReply(seconds, "MQTT_COMMOD_READ_REP", reply(seconds)), "success");
  assert.equal(matchReply(seconds, "MQTT_COMMOD_SET_REP", reply(seconds)), "unrelated");
});

Deno.test("a relay command switches DO1 on MQTT_TELECTRL_<last 8>", () => {
  assert.deepEqual(relayCommand(A, true, OPRID), {
    kind: "relay",
    on: true,
    id: "33B1225950027",
    oprid: OPRID,
    topic: "MQTT_TELECTRL_25950027",
    payload: `{"oprid":"${OPRID}","do1":"1"}`,
    replyTopic: "MQTT_TELECTRL_REP",
    summary: "relay DO1 on",
  });
  const off = relayCommand(A, false, OPRID);
  assert.equal(off.on, false);
  assert.equal(off.payload, `{"oprid":"${OPRID}","do1":"0"}`);
  assert.equal(matchReply(off, "MQTT_TELECTRL_REP", reply(off, "02")), "failure");
});

Deno.test("every command's typed value is the one its payload carries", () => {
  fc.assert(
    fc.property(
      meterIdArb,
      opridArb,
      fc.constantFrom(...SECONDS_LEVEL_INTERVALS),
      fc.constantFrom(...MINUTES_LEVEL_INTERVALS),
      fc.boolean(),
      (id, oprid, seconds, minutes, on) => {
        const commands: MeterCommand[] = [
          secondsIntervalCommand(id, seconds, oprid),
          minutesIntervalCommand(id, minutes, oprid),
          clockCommand(id, "20261231235959", oprid),
          intervalReadCommand(id, "seconds", oprid),
          intervalReadCommand(id, "minutes", oprid),
          relayCommand(id, on, oprid),
        ];
        for (const command of commands) {
          const sent = JSON.parse(command.payload);
          switch (command.kind) {
            case "interval_seconds":
            case "interval_minutes":
              assert.equal(sent.value, String(command.value));
              break;
            case "clock":
              assert.equal(sent.time, command.time);
              break;
            case "read_interval_seconds":
            case "read_interval_minutes":
              assert.equal(sent.Cmd, command.level === "seconds" ? "0000" : "0001");
              assert.equal(command.kind, `read_interval_${command.level}`);
              break;
            case "relay":
              assert.equal(sent.do1, command.on ? "1" : "0");
              break;
          }
        }
      },
    ),
  );
});
