import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { BridgeInfo } from "../../src/protocol/topics.ts";
import { bridgeInfo } from "../../src/proxy/bridge_info.ts";

Deno.test("bridge/info: version, uptime, meters known and online, and a configuration summary without secrets", () => {
  const config = parseConfig(
    `internal_broker:
  url: mqtt://meter-user:broker-secret@10.0.0.2:1883
  password: internal-secret
  meter_auth: { password: meter-secret, accounts: { 33B1225950027: { password: account-secret } } }
central_broker: { url: "mqtts://ha.local:8883", username: ha, password: central-secret }
meters: { relay_control: [33B1225950027], names: { 33B1225950027: Kitchen } }
http: { auth_token: http-secret }
`,
    "config.yaml",
    () => undefined,
  );
  const started = Date.UTC(2026, 11, 3, 8);
  const info = bridgeInfo(config, "1.2.3", started, started + 90_400, { known: 3, online: 2 });
  assert.equal(BridgeInfo.safeParse(info).success, true);
  assert.equal(info.version, "1.2.3");
  assert.equal(info.started_at, "2026-12-03T08:00:00.000Z");
  assert.equal(info.uptime_seconds, 90);
  assert.equal(info.meters, 3);
  assert.equal(info.meters_online, 2);
  assert.equal(info.config.central_broker, "mqtts://ha.local:8883");
  const text = JSON.stringify(info);
  for (
    const secret of [
      "broker-secret",
      "internal-secret",
      "meter-secret",
      "account-secret",
      "http-secret",
    ]
  ) {
    assert.equal(text.includes(secret), false, secret);
  }
  assert.equal(text.includes("central-secret"), false);
  assert.deepEqual((info.config.meters as Record<string, unknown>).relay_control, [
    "33B1225950027",
  ]);
});
