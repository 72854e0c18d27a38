import assert from "node:assert/strict";
import { parseCentralTopic } from "../../src/protocol/central_topic.ts";

const ID = "33B1225950027";

Deno.test("central topics under the root are told apart by their levels", () => {
  const cases: Array<[string, unknown]> = [
    ["kpm33b/bridge/cluster/proxy", { kind: "cluster", worker: "proxy" }],
    ["kpm33b/bridge/cluster/config_sender", { kind: "cluster", worker: "config_sender" }],
    [`kpm33b/discovery/${ID}`, { kind: "announcement", id: ID }],
    ["kpm33b/discovery/not-an-id", { kind: "announcement", id: "not-an-id" }],
    ["kpm33b/bridge/request/health", { kind: "request", action: "health" }],
    ["kpm33b/bridge/request/meter/sync_time", { kind: "request", action: "meter/sync_time" }],
    [`kpm33b/${ID}/relay/set`, { kind: "relay_set", id: ID }],
    [`kpm33b/${ID}/seconds`, { kind: "reading", id: ID, level: "seconds" }],
    [`kpm33b/${ID}/minutes`, { kind: "reading", id: ID, level: "minutes" }],
    [`kpm33b/${ID}/day`, { kind: "reading", id: ID, level: "day" }],
    [`kpm33b/${ID}/availability`, { kind: "other" }],
    [`kpm33b/${ID}/relay`, { kind: "other" }],
    ["kpm33b/bridge/cluster/unknown", { kind: "other" }],
    [`other/${ID}/seconds`, { kind: "other" }],
    [`kpm33b2/discovery/${ID}`, { kind: "other" }],
    ["homeassistant/sensor/x/config", { kind: "other" }],
  ];
  for (const [topic, expected] of cases) {
    assert.deepEqual(parseCentralTopic("kpm33b", topic), expected, topic);
  }
});

Deno.test("a root of several levels is matched whole", () => {
  assert.deepEqual(parseCentralTopic("site1/kpm33b", `site1/kpm33b/discovery/${ID}`), {
    kind: "announcement",
    id: ID,
  });
  assert.deepEqual(parseCentralTopic("site1/kpm33b", `site1/kpm33b/${ID}/relay/set`), {
    kind: "relay_set",
    id: ID,
  });
  assert.deepEqual(parseCentralTopic("site1/kpm33b", `site1/${ID}/seconds`), { kind: "other" });
});

Deno.test("Home Assistant's status topic is recognized only when given", () => {
  assert.deepEqual(parseCentralTopic("kpm33b", "homeassistant/status"), { kind: "other" });
  assert.deepEqual(
    parseCentralTopic("kpm33b", "homeassistant/status", "homeassistant/status"),
    { kind: "home_assistant_status" },
  );
});
