import assert from "node:assert/strict";
import { Config } from "../../src/config/schema.ts";
import {
  discoveryContext,
  discoveryLimits,
  ownBridge,
  pipelineOptions,
  replicaOf,
  shared,
} from "../../src/proxy/proxy_settings.ts";

const alone = Config.parse({});
const replica = Config.parse({ cluster: { share_group: "g", replica: "r1" } });

Deno.test("a bridge alone uses the bridge topics and plain filters", () => {
  assert.equal(replicaOf(alone), undefined);
  assert.deepEqual(ownBridge(alone), { root: "kpm33b", replica: undefined });
  assert.equal(shared(alone, "kpm33b/+/relay/set"), "kpm33b/+/relay/set");
  assert.equal(pipelineOptions(alone).replica, undefined);
  assert.equal(discoveryContext(alone).stateTopic, "kpm33b/bridge/state");
});

Deno.test("a replica uses its own topics and shares the request filters", () => {
  assert.equal(replicaOf(replica), "r1");
  assert.deepEqual(ownBridge(replica), { root: "kpm33b", replica: "r1" });
  assert.equal(shared(replica, "kpm33b/+/relay/set"), "$share/g/kpm33b/+/relay/set");
  assert.equal(pipelineOptions(replica).replica, "r1");
  const context = discoveryContext(replica);
  assert.equal(context.infoTopic, "kpm33b/bridge/replicas/r1/info");
  assert.equal(context.replica, "r1");
});

Deno.test("discovery limits follow limits.max_meters and the discovery rate", () => {
  const config = Config.parse({
    limits: { max_meters: 50 },
    homeassistant: { discovery_rate_per_second: 7 },
  });
  assert.deepEqual(discoveryLimits(config), { maxMeters: 50, messagesPerSecond: 7 });
});
