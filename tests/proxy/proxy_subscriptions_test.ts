import assert from "node:assert/strict";
import { Config } from "../../src/config/schema.ts";
import type { SubscribePort, SubscribeResult } from "../../src/mqtt/subscribe_port.ts";
import { subscribeCentral, subscribeInternal } from "../../src/proxy/proxy_subscriptions.ts";
import { fakeLog } from "../helpers/fake_central.ts";

/** A broker that answers each subscribe when the test says so. */
function fakeBroker() {
  const calls: { filters: readonly string[]; answer: (result: SubscribeResult) => void }[] = [];
  const port: SubscribePort = {
    subscribe: (filters, done) => calls.push({ filters, answer: done }),
  };
  return { port, calls, filters: () => calls.map((call) => call.filters) };
}

const CLUSTER = ["kpm33b/bridge/cluster/proxy/#"];

/** The `i`th subscribe the broker got; fails the test when there was none. */
function nth<T>(calls: readonly T[], i: number): T {
  const call = calls[i];
  assert.ok(call !== undefined, `subscribe #${i} was sent`);
  return call;
}

function central(settings: Record<string, unknown>) {
  const broker = fakeBroker();
  const { log, lines } = fakeLog();
  const announced: string[] = [];
  subscribeCentral(
    broker.port,
    Config.parse(settings),
    CLUSTER,
    {
      announcementsSubscribed: () => announced.push("announcements in"),
      requestsSubscribed: () => announced.push("requests in"),
    },
    log,
  );
  return { ...broker, lines, announced };
}

Deno.test("central: announcements first, the rest only once they are answered", () => {
  const { calls, filters, announced } = central({ homeassistant: { enabled: true } });
  assert.deepEqual(filters(), [["kpm33b/discovery/+"]]);
  assert.deepEqual(announced, []);
  nth(calls, 0).answer({ refused: [] });
  assert.deepEqual(announced, ["announcements in"]);
  assert.deepEqual(filters(), [
    ["kpm33b/discovery/+"],
    ["kpm33b/bridge/request/#", "kpm33b/+/relay/set", ...CLUSTER],
    ["homeassistant/+/+/+/config", "homeassistant/status"],
  ]);
});

Deno.test("central: the bridge API counts as listening only once its subscribe is answered", () => {
  const { calls, announced, lines } = central({ homeassistant: { enabled: true } });
  nth(calls, 0).answer({ refused: [] });
  assert.deepEqual(announced, ["announcements in"]);
  nth(calls, 2).answer({ refused: [] });
  assert.deepEqual(announced, ["announcements in"], "Home Assistant's answer is not the API's");
  nth(calls, 1).answer({ refused: ["kpm33b/bridge/request/#"] });
  assert.deepEqual(announced, ["announcements in", "requests in"]);
  assert.equal(lines.length, 1, "the refusal is logged once");
});

Deno.test("central: without Home Assistant no discovery or status subscription", () => {
  const { calls, filters } = central({ homeassistant: { enabled: false } });
  nth(calls, 0).answer({ refused: [] });
  assert.deepEqual(filters(), [
    ["kpm33b/discovery/+"],
    ["kpm33b/bridge/request/#", "kpm33b/+/relay/set", ...CLUSTER],
  ]);
});

Deno.test("central: with replicas the requests and relay commands are shared", () => {
  const { calls, filters } = central({
    homeassistant: { enabled: false },
    cluster: { share_group: "bridges", replica: "a" },
  });
  nth(calls, 0).answer({ refused: [] });
  assert.deepEqual(filters()[1], [
    "$share/bridges/kpm33b/bridge/request/#",
    "$share/bridges/kpm33b/+/relay/set",
    ...CLUSTER,
  ]);
});

Deno.test("central: a refusal is logged once, naming the refused filters; the chain goes on", () => {
  const { calls, lines, announced } = central({ homeassistant: { enabled: true } });
  nth(calls, 0).answer({ refused: ["kpm33b/discovery/+"] });
  assert.deepEqual(announced, ["announcements in"]);
  nth(calls, 1).answer({ refused: ["kpm33b/+/relay/set"] });
  nth(calls, 2).answer({ refused: [] });
  assert.deepEqual(lines, [
    ["error", "Central broker refused subscriptions {filters}: {error}", {
      filters: ["kpm33b/discovery/+"],
      error: "not authorized",
    }],
    ["error", "Central broker refused subscriptions {filters}: {error}", {
      filters: ["kpm33b/+/relay/set"],
      error: "not authorized",
    }],
  ]);
});

Deno.test("central: an error names every filter of the subscribe and the error", () => {
  const { calls, lines } = central({ homeassistant: { enabled: true } });
  nth(calls, 0).answer({ refused: [] });
  nth(calls, 2).answer({ error: new Error("connection closed"), refused: [] });
  assert.deepEqual(lines, [
    ["error", "Central broker refused subscriptions {filters}: {error}", {
      filters: ["homeassistant/+/+/+/config", "homeassistant/status"],
      error: "connection closed",
    }],
  ]);
});

Deno.test("internal: granted filters are logged and reported subscribed", () => {
  const { port, calls, filters } = fakeBroker();
  const { log, lines } = fakeLog();
  let subscribed = 0;
  subscribeInternal(port, ["MQTT_RT_DATA", "MQTT_TELEIND"], () => subscribed++, log);
  assert.deepEqual(filters(), [["MQTT_RT_DATA", "MQTT_TELEIND"]]);
  assert.equal(subscribed, 0);
  nth(calls, 0).answer({ refused: [] });
  assert.equal(subscribed, 1);
  assert.deepEqual(lines, [
    ["info", "Subscribed to {topics} on the internal broker", {
      topics: ["MQTT_RT_DATA", "MQTT_TELEIND"],
    }],
  ]);
});

Deno.test("internal: a refusal is logged once and readings are not reported flowing", () => {
  const { port, calls } = fakeBroker();
  const { log, lines } = fakeLog();
  let subscribed = 0;
  subscribeInternal(port, ["MQTT_RT_DATA", "MQTT_TELEIND"], () => subscribed++, log);
  nth(calls, 0).answer({ refused: ["MQTT_TELEIND"] });
  assert.equal(subscribed, 0);
  assert.deepEqual(lines, [
    ["error", "Internal broker refused subscriptions {topics}: {error}", {
      topics: ["MQTT_TELEIND"],
      error: "not authorized",
    }],
  ]);
});
