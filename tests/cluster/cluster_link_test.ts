/** Cluster links of two processes over a real Mosquitto. */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { ClusterLink } from "../../src/cluster/cluster_link.ts";
import { logger } from "../../src/logging/setup.ts";
import type { ClusterEvent } from "../../src/protocol/cluster.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { until } from "../helpers/wait.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";

const METER = MeterId.parse("33B1225950027");

const log = logger("test");

Deno.test("events cross to the worker in the other process; local and invalid ones do not", async () => {
  await using broker = await startMosquitto();
  const proxyClient = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  const configClient = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  try {
    const atProxy: ClusterEvent[] = [];
    const atConfig: ClusterEvent[] = [];
    const proxy = new ClusterLink(
      proxyClient,
      "kpm33b",
      "proxy",
      ["config_sender"],
      (e) => atProxy.push(e),
      log,
    );
    const config = new ClusterLink(
      configClient,
      "kpm33b",
      "config_sender",
      ["proxy"],
      (e) => atConfig.push(e),
      log,
    );
    for (const [client, link] of [[proxyClient, proxy], [configClient, config]] as const) {
      assert.deepEqual(link.filters, [`kpm33b/bridge/cluster/${link.self}`]);
      client.on("message", (topic, payload) => link.onMessage(topic, payload));
      await client.subscribeAsync(link.filters, { qos: 1 });
    }

    const drift = { type: "clock_drift", id: METER, drift_seconds: -600 } as const;
    const summary = {
      type: "meter_config",
      id: METER,
      summary: {
        configuration: "configured",
        intervals: { seconds: 60, minutes: 1 },
        clock_set_at: null,
        last_ack_latency_ms: 120,
        last_error: null,
      },
    } as const;
    assert.equal(proxy.send(drift), true);
    assert.equal(proxy.send({ type: "reload_request", request: "r1" }), false, "for main");
    assert.equal(
      config.send({ type: "clock_drift", id: METER, drift_seconds: 1 }),
      false,
    );
    assert.equal(config.send({ type: "ack_latency", seconds: 0.25 }), false, "stays in-process");
    assert.equal(config.send(summary), true);
    // Not an event, the wrong recipient, a hostile id: dropped, nothing delivered.
    await configClient.publishAsync("kpm33b/bridge/cluster/config_sender", "{not json", { qos: 1 });
    await configClient.publishAsync(
      "kpm33b/bridge/cluster/config_sender",
      JSON.stringify(summary),
      { qos: 1 },
    );
    await configClient.publishAsync(
      "kpm33b/bridge/cluster/config_sender",
      JSON.stringify({ ...drift, id: "../../etc" }),
      { qos: 1 },
    );
    await until(() => atConfig.length > 0 && atProxy.length > 0, "both events delivered");
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(atConfig, [drift]);
    assert.deepEqual(atProxy, [summary]);
    assert.equal(proxy.onMessage("kpm33b/discovery/33B1225950027", new Uint8Array()), false);
  } finally {
    await proxyClient.endAsync(true);
    await configClient.endAsync(true);
  }
});

Deno.test("a link without remote workers subscribes to nothing and sends nothing", () => {
  const link = new ClusterLink({} as never, "kpm33b", "proxy", [], () => {}, log);
  assert.equal(link.active, false);
  assert.deepEqual(link.filters, []);
  assert.equal(link.send({ type: "clock_drift", id: METER, drift_seconds: 600 }), false);
});
