/**
 * TLS end to end: the bridge publishes to a real Mosquitto TLS listener
 * (certificates made with openssl), refuses a broker its CA did not sign with
 * a clear message, and its embedded meters' broker serves TLS itself.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { startBridge } from "../helpers/bridge.ts";
import { makeCertificates } from "../helpers/certificates.ts";
import { runMosquitto, startMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { freePort } from "../helpers/ports.ts";

const RT = Deno.readTextFileSync(new URL("../fixtures/MQTT_RT_DATA.json", import.meta.url));
const METER = "33B1225950027" as MeterId;

async function tlsMosquitto(certs: { caCert: string; serverCert: string; serverKey: string }) {
  const port = freePort();
  const broker = await runMosquitto(
    `listener ${port} 127.0.0.1\ncafile ${certs.caCert}\ncertfile ${certs.serverCert}\n` +
      `keyfile ${certs.serverKey}\nallow_anonymous true\npersistence false\n`,
    port,
  );
  return { ...broker, url: `mqtts://127.0.0.1:${port}` };
}

function config(internalUrl: string, centralUrl: string, centralTls: string) {
  return `internal_broker: { url: "${internalUrl}", client_id: tls-bridge }
central_broker: { url: "${centralUrl}", client_id: tls-bridge, tls: ${centralTls} }
meters: { timezone: Europe/Vienna }
logging: { format: json, stats_interval_seconds: 0 }
`;
}

Deno.test("readings reach a central broker over TLS verified with the configured CA", async () => {
  await using certs = await makeCertificates();
  await using internal = await startMosquitto();
  await using central = await tlsMosquitto(certs);
  await using bridge = await startBridge(
    config(internal.url, central.url, `{ ca_file: "${certs.caCert}" }`),
  );
  const consumer = await mqtt.connectAsync(central.url, {
    ca: Deno.readTextFileSync(certs.caCert),
  });
  const received: string[] = [];
  consumer.on("message", (topic) => received.push(topic));
  try {
    await consumer.subscribeAsync("kpm33b/#", { qos: 1 });
    await bridge.waitForLog((l) => l.message === "Bridge state online", "online");
    await using meter = await TestClient.connect(internal.url);
    await meter.publish("MQTT_RT_DATA", RT);
    const deadline = Date.now() + 10_000;
    while (!received.includes(`kpm33b/${METER}/seconds`)) {
      assert.ok(Date.now() < deadline, `no reading over TLS: ${received}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  } finally {
    await consumer.endAsync();
  }
});

Deno.test("a central broker signed by another CA is refused with a message that says what to fix", async () => {
  await using certs = await makeCertificates();
  await using internal = await startMosquitto();
  await using central = await tlsMosquitto(certs);
  await using bridge = await startBridge(
    config(internal.url, central.url, `{ ca_file: "${certs.otherCaCert}" }`),
  );
  const line = await bridge.waitForLog(
    (l) => String(l.message).includes("unreachable"),
    "the TLS refusal",
  );
  assert.match(String(line.message), /central_broker\.tls\.ca_file/);
  assert.ok(!bridge.output().includes("Bridge state online"));
});

Deno.test("turning verification off works, with a warning", async () => {
  await using certs = await makeCertificates();
  await using internal = await startMosquitto();
  await using central = await tlsMosquitto(certs);
  await using bridge = await startBridge(config(internal.url, central.url, "{ verify: false }"));
  await bridge.waitForLog((l) => l.message === "Bridge state online", "online");
  const warning = bridge.logLines().find((l) => String(l.message).includes("verification"));
  assert.equal(warning?.level, "WARN");
});

Deno.test("the embedded meters' broker serves TLS on its own port", async () => {
  await using certs = await makeCertificates();
  await using central = await startMosquitto();
  const plainPort = freePort();
  const tlsPort = freePort();
  await using bridge = await startBridge(`internal_broker:
  url: mqtt://127.0.0.1:${plainPort}
  embedded:
    enabled: true
    tls: { port: ${tlsPort}, cert_file: "${certs.serverCert}", key_file: "${certs.serverKey}" }
central_broker: { url: "${central.url}" }
logging: { format: json, stats_interval_seconds: 0 }
`);
  await using consumer = await TestClient.connect(central.url);
  await consumer.subscribe("kpm33b/#");
  await bridge.waitForLog((l) => l.message === "Bridge state online", "online");
  const meter = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, {
    ca: Deno.readTextFileSync(certs.caCert),
    reconnectPeriod: 0,
  });
  try {
    await meter.publishAsync("MQTT_RT_DATA", RT, { qos: 1 });
    await consumer.waitFor(
      (r) => r.some((m) => m.topic === `kpm33b/${METER}/seconds`),
      "a reading sent over TLS",
    );
  } finally {
    await meter.endAsync();
  }
});
