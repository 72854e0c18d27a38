/** The access rules a Mosquitto meters' broker set up from the shipped files must enforce. */
import assert from "node:assert/strict";
import { TestClient } from "./mqtt_client.ts";
import { sleep } from "./wait.ts";

/** Passwords of the meters' shared account (`meter`) and the bridge's account (`bridge`). */
export interface MetersBrokerSecrets {
  readonly KPM33B_METER_PASSWORD: string;
  readonly KPM33B_INTERNAL_PASSWORD: string;
}

/**
 * Asserts that a meter logged in as `meter` reaches the bridge logged in as
 * `bridge` at `url` and receives its commands, whichever its id; that another
 * client of the shared account reads no reading; and that anonymous clients
 * are refused.
 */
export async function assertMetersBrokerRules(
  url: string,
  secrets: MetersBrokerSecrets,
): Promise<void> {
  await using bridge = await TestClient.connect(url, "kpm33b-bridge-probe", {
    username: "bridge",
    password: secrets.KPM33B_INTERNAL_PASSWORD,
  });
  const shared = { username: "meter", password: secrets.KPM33B_METER_PASSWORD };
  await using meter = await TestClient.connect(url, "meter-probe", shared);
  await using snooper = await TestClient.connect(url, "snooper-probe", shared);
  await bridge.subscribe("MQTT_RT_DATA");
  await snooper.subscribe("+");
  // An id no configuration names: the commands of any meter reach it.
  await meter.subscribe("MQTT_SETTIME_97531024");
  await meter.publish("MQTT_RT_DATA", '{"id":"33B1297531024"}');
  await bridge.waitFor((r) => r.length === 1, "the meter's reading at the bridge");
  await bridge.publish("MQTT_SETTIME_97531024", '{"oprid":"probe"}');
  await meter.waitFor((r) => r.length === 1, "the bridge's command at the meter");
  // No further message reaches the snooper late.
  await sleep(300);
  assert.deepEqual(
    snooper.received.map((m) => m.topic),
    ["MQTT_SETTIME_97531024"],
    "another client of the shared account reads the command, not the reading",
  );
  await assert.rejects(TestClient.connect(url, "anonymous-probe"), "anonymous clients are refused");
}
