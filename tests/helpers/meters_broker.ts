/** The access rules a Mosquitto meters' broker set up from the shipped files must enforce. */
import assert from "node:assert/strict";
import { TestClient } from "./mqtt_client.ts";

/** Passwords of the meters' shared account (`meter`) and the bridge's account (`bridge`). */
export interface MetersBrokerSecrets {
  readonly KPM33B_METER_PASSWORD: string;
  readonly KPM33B_INTERNAL_PASSWORD: string;
}

/**
 * Asserts that a meter logged in as `meter` reaches the bridge logged in as
 * `bridge` at `url`, and that anonymous clients are refused.
 */
export async function assertMetersBrokerRules(
  url: string,
  secrets: MetersBrokerSecrets,
): Promise<void> {
  await using bridge = await TestClient.connect(url, "kpm33b-bridge-probe", {
    username: "bridge",
    password: secrets.KPM33B_INTERNAL_PASSWORD,
  });
  await using meter = await TestClient.connect(url, "meter-probe", {
    username: "meter",
    password: secrets.KPM33B_METER_PASSWORD,
  });
  await bridge.subscribe("MQTT_RT_DATA");
  await meter.publish("MQTT_RT_DATA", '{"id":"33B1225950027"}');
  await bridge.waitFor((r) => r.length === 1, "the meter's reading at the bridge");
  await assert.rejects(TestClient.connect(url, "anonymous-probe"), "anonymous clients are refused");
}
