import assert from "node:assert/strict";
import fc from "fast-check";
import {
  CLUSTER_EVENT_RECIPIENT,
  clusterTopic,
  parseClusterEvent,
  replicaTopic,
  sharedFilter,
} from "../../src/protocol/cluster.ts";

const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

Deno.test("topics of the cluster", () => {
  assert.equal(
    clusterTopic("site1/kpm33b", "config_sender"),
    "site1/kpm33b/bridge/cluster/config_sender",
  );
  assert.equal(sharedFilter("kpm33b", "MQTT_RT_DATA"), "$share/kpm33b/MQTT_RT_DATA");
  assert.equal(replicaTopic("kpm33b", "r1", "state"), "kpm33b/bridge/replicas/r1/state");
});

Deno.test("each event crossing processes is checked against its schema", () => {
  const request = {
    type: "command_request",
    request: "a1b2c3d4-r7",
    command: { action: "set_interval", id: "33B1225950027", seconds: 60 },
  };
  assert.deepEqual(parseClusterEvent(bytes(request)), request);
  assert.equal(CLUSTER_EVENT_RECIPIENT.command_request, "config_sender");
  const invalid = [
    { ...request, command: { action: "set_interval", id: "33B1225950027", seconds: 45 } },
    { ...request, command: { action: "relay", id: "33B1225950027", on: "yes" } },
    { ...request, command: { action: "set_interval", id: "33B1225950027" } },
    { type: "ack_latency", seconds: 1 },
    { type: "snapshot", snapshot: {} },
    { type: "meter_config", id: "33B1225950027", summary: {} },
    { type: "clock_drift", id: "x", drift_seconds: 1 },
  ];
  for (const event of invalid) assert.equal(parseClusterEvent(bytes(event)), undefined);
  assert.equal(parseClusterEvent(new Uint8Array(20_000)), undefined);
});

Deno.test("property: no payload throws", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (payload) => {
    parseClusterEvent(payload);
  }));
  fc.assert(fc.property(fc.jsonValue(), (value) => {
    parseClusterEvent(bytes(value));
  }));
});
