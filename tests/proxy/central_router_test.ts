import assert from "node:assert/strict";
import { type CentralHandlers, routeCentralMessage } from "../../src/proxy/central_router.ts";
import { fakeLog } from "../helpers/fake_central.ts";

const ID = "33B1225950027";
const bytes = (text: string) => new TextEncoder().encode(text);

function setUp(enabled = true, clusterTakes = true) {
  const calls: string[] = [];
  const handlers: CentralHandlers = {
    cluster: (topic) => {
      calls.push(`cluster ${topic}`);
      return clusterTakes;
    },
    announcement: (topic) => calls.push(`announcement ${topic}`),
    request: (topic) => calls.push(`request ${topic}`),
    relaySet: (topic) => calls.push(`relaySet ${topic}`),
    homeAssistantOnline: () => calls.push("homeAssistantOnline"),
    discoveryConfig: (topic) => calls.push(`discoveryConfig ${topic}`),
  };
  const { log, lines } = fakeLog();
  const settings = {
    root: "kpm33b",
    homeAssistant: { enabled, status_topic: "homeassistant/status" },
  };
  const route = (topic: string, payload = "", retained = false) =>
    routeCentralMessage(settings, handlers, { topic, payload: bytes(payload), retained }, log);
  return { calls, lines, route };
}

Deno.test("each central message goes to its handler", () => {
  const env = setUp();
  env.route("kpm33b/bridge/cluster/proxy");
  env.route(`kpm33b/discovery/${ID}`, "{}", true);
  env.route("kpm33b/bridge/request/health");
  env.route(`kpm33b/${ID}/relay/set`, "ON");
  env.route("homeassistant/sensor/x/config", "{}", true);
  assert.deepEqual(env.calls, [
    "cluster kpm33b/bridge/cluster/proxy",
    `announcement kpm33b/discovery/${ID}`,
    "request kpm33b/bridge/request/health",
    `relaySet kpm33b/${ID}/relay/set`,
    "discoveryConfig homeassistant/sensor/x/config",
  ]);
});

Deno.test("retained requests are ignored, retained relay commands with a warning", () => {
  const env = setUp();
  env.route("kpm33b/bridge/request/health", "", true);
  env.route(`kpm33b/${ID}/relay/set`, "ON", true);
  assert.deepEqual(env.calls, []);
  assert.deepEqual(env.lines, [[
    "warn",
    "Ignoring a retained {topic}: publish relay commands without retain",
    { topic: `kpm33b/${ID}/relay/set` },
  ]]);
});

Deno.test("Home Assistant online republishes discovery only when enabled", () => {
  const env = setUp();
  env.route("homeassistant/status", " online\n");
  env.route("homeassistant/status", "offline");
  assert.deepEqual(env.calls, ["homeAssistantOnline"]);
  assert.deepEqual(env.lines, [[
    "info",
    "Home Assistant is online; publishing discovery again",
    undefined,
  ]]);
  const off = setUp(false);
  off.route("homeassistant/status", "online");
  off.route("homeassistant/sensor/x/config", "{}");
  assert.deepEqual(off.calls, []);
});

Deno.test("a cluster topic the link does not take is treated like any other topic", () => {
  const env = setUp(true, false);
  env.route("kpm33b/bridge/cluster/config_sender");
  assert.deepEqual(env.calls, [
    "cluster kpm33b/bridge/cluster/config_sender",
    "discoveryConfig kpm33b/bridge/cluster/config_sender",
  ]);
});
