import assert from "node:assert/strict";
import { errorResponse, okResponse } from "../../src/protocol/bridge_api.ts";
import {
  centralMessage,
  centralTopic,
  clearMessage,
  type JsonText,
  jsonText,
} from "../../src/protocol/central_message.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";
import type { MeterStatus } from "../../src/protocol/meter_status.ts";
import type { ReadingPayload } from "../../src/protocol/transform.ts";

const ID = MeterId.parse("33B1225950027");
const METER = { root: "kpm33b", id: ID };

const plain = (message: { topic: string; payload: string }) => [message.topic, message.payload];

Deno.test("each kind's topic and payload bytes are as published", () => {
  const reading = '{"id":"33B1225950027","time":"20260112163900"}' as JsonText<ReadingPayload>;
  const announcement = { id: ID, model: "KPM33B", first_seen: "2026-01-12T15:39:05.000Z" };
  const io = { di1: "ON", di2: "OFF", do1: "ON", do2: "OFF", raw: "1@1" } as const;
  const cases: Array<[{ topic: string; payload: string }, string, string]> = [
    [
      centralMessage("reading", { ...METER, level: "minutes" }, reading),
      `kpm33b/${ID}/minutes`,
      reading,
    ],
    [
      centralMessage("announcement", METER, announcement),
      `kpm33b/discovery/${ID}`,
      '{"id":"33B1225950027","model":"KPM33B","first_seen":"2026-01-12T15:39:05.000Z"}',
    ],
    [centralMessage("availability", METER, "online"), `kpm33b/${ID}/availability`, "online"],
    [
      centralMessage("io", METER, io),
      `kpm33b/${ID}/io`,
      '{"di1":"ON","di2":"OFF","do1":"ON","do2":"OFF","raw":"1@1"}',
    ],
    [centralMessage("relay", METER, "OFF"), `kpm33b/${ID}/relay`, "OFF"],
    [
      centralMessage("relay_result", METER, errorResponse('send "ON" or "OFF"')),
      `kpm33b/${ID}/relay/result`,
      '{"status":"error","data":{},"error":"send \\"ON\\" or \\"OFF\\""}',
    ],
    [centralMessage("bridge_state", { root: "kpm33b" }, "online"), "kpm33b/bridge/state", "online"],
    [
      centralMessage("bridge_state", { root: "site/kpm33b", replica: "r1" }, "offline"),
      "site/kpm33b/bridge/replicas/r1/state",
      "offline",
    ],
    [centralMessage("bridge_meters", { root: "kpm33b" }, []), "kpm33b/bridge/meters", "[]"],
    [
      centralMessage("bridge_outbox", { root: "kpm33b", replica: "r2" }, {
        depth: 1,
        bytes: 20,
        dropped: 0,
        oldest: null,
        durable: true,
        problem: null,
      }),
      "kpm33b/bridge/replicas/r2/outbox",
      '{"depth":1,"bytes":20,"dropped":0,"oldest":null,"durable":true,"problem":null}',
    ],
    [
      centralMessage("api_response", { root: "kpm33b", action: "meter/sync_time" }, {
        ...okResponse({ id: ID }, 7),
      }),
      "kpm33b/bridge/response/meter/sync_time",
      '{"status":"ok","data":{"id":"33B1225950027"},"transaction":7}',
    ],
    [
      centralMessage(
        "discovery_config",
        { topic: "homeassistant/sensor/x/power/config" },
        jsonText({ name: "Power" }),
      ),
      "homeassistant/sensor/x/power/config",
      '{"name":"Power"}',
    ],
    [
      centralMessage("cluster", { root: "kpm33b", worker: "config_sender" }, { type: "resync" }),
      "kpm33b/bridge/cluster/config_sender",
      '{"type":"resync"}',
    ],
  ];
  for (const [message, topic, payload] of cases) {
    assert.deepEqual(plain(message), [topic, payload], topic);
  }
});

Deno.test("a status and the bridge info are their JSON", () => {
  const status = { id: ID } as unknown as MeterStatus;
  assert.deepEqual(plain(centralMessage("status", METER, status)), [
    `kpm33b/${ID}/status`,
    '{"id":"33B1225950027"}',
  ]);
  assert.equal(centralTopic("bridge_info", { root: "kpm33b" }), "kpm33b/bridge/info");
});

Deno.test("retained topics are cleared with an empty payload", () => {
  assert.deepEqual(plain(clearMessage("status", METER)), [`kpm33b/${ID}/status`, ""]);
  assert.deepEqual(plain(clearMessage("announcement", METER)), [`kpm33b/discovery/${ID}`, ""]);
  assert.deepEqual(plain(clearMessage("discovery_config", { topic: "ha/x/config" })), [
    "ha/x/config",
    "",
  ]);
});

Deno.test("a payload that does not fit its kind is a type error", () => {
  const wrong = () => {
    // @ts-expect-error: availability is `online` or `offline`
    centralMessage("availability", METER, "ON");
    // @ts-expect-error: the relay state is `ON` or `OFF`
    centralMessage("relay", METER, "online");
    // @ts-expect-error: a bridge state is not a response
    centralMessage("api_response", { root: "kpm33b", action: "health" }, "online");
    // @ts-expect-error: a reading is encoded JSON, not any string
    centralMessage("reading", { ...METER, level: "seconds" }, "{}");
    // @ts-expect-error: a meter topic needs its meter
    centralMessage("status", { root: "kpm33b" }, { id: ID } as unknown as MeterStatus);
    // @ts-expect-error: only retained meter topics are cleared
    clearMessage("api_response", { root: "kpm33b", action: "health" });
    // @ts-expect-error: a message is built by centralMessage, not written by hand
    const forged: ReturnType<typeof centralMessage> = { topic: "kpm33b/x", payload: "" };
    return forged;
  };
  assert.equal(typeof wrong, "function");
});
