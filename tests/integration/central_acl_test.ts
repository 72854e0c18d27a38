/**
 * The central-broker ACL of docs/central_broker_acl.md, run by a real Mosquitto
 * with the real bridge: the bridge gets every subscription it needs, Home
 * Assistant's account may switch relays and call the bridge API, a reading
 * account may neither, and nobody but the bridge reads the cluster topics.
 */
import assert from "node:assert/strict";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { startBridge } from "../helpers/bridge.ts";
import { passwordFileLine, runMosquitto } from "../helpers/mosquitto.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { freePort } from "../helpers/ports.ts";
import { sleep } from "../helpers/wait.ts";
import { startMeter } from "../helpers/simulated_meters.ts";

const DOC = new URL("../../docs/central_broker_acl.md", import.meta.url);
const METER = "33B1225950027" as MeterId;
const ACCOUNTS = {
  bridge: { username: "kpm33b", password: "bridge-secret" },
  ha: { username: "homeassistant", password: "ha-secret" },
  reader: { username: "reader", password: "reader-secret" },
};

/** The ACL example: the first fenced block after its heading. */
async function documentedAcl(): Promise<string> {
  const text = await Deno.readTextFile(DOC);
  const block = /## Mosquitto example[\s\S]*?```\n([\s\S]*?)```/.exec(text)?.[1];
  if (block === undefined) throw new Error("docs/central_broker_acl.md has no ACL example");
  return block;
}

/** Mosquitto with the documented ACL and the three accounts. */
async function centralWithAcl(dir: string) {
  const passwd = await Promise.all(
    Object.values(ACCOUNTS).map((a) => passwordFileLine(a.username, a.password)),
  );
  await Deno.writeTextFile(`${dir}/passwd`, passwd.join("\n") + "\n", { mode: 0o600 });
  await Deno.writeTextFile(`${dir}/acl`, await documentedAcl());
  // Mosquitto started as root drops to its own user before reading these files; as
  // another user the chown fails harmlessly and Mosquitto reads them as that user.
  await new Deno.Command("chown", {
    args: ["mosquitto", dir, `${dir}/passwd`, `${dir}/acl`],
    stderr: "null",
  }).output();
  const port = freePort();
  return await runMosquitto(
    `listener ${port} 127.0.0.1\nallow_anonymous false\npersistence false\n` +
      `password_file ${dir}/passwd\nacl_file ${dir}/acl\n`,
    port,
  );
}

Deno.test("the documented central ACL: only the bridge and Home Assistant may act, the bridge gets what it needs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-central-acl-" });
  await using _dir = { [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
  await using central = await centralWithAcl(dir);
  const internalPort = freePort();
  await using bridge = await startBridge(`internal_broker:
  url: mqtt://127.0.0.1:${internalPort}
  embedded: { enabled: true }
central_broker:
  url: ${central.url}
  username: ${ACCOUNTS.bridge.username}
  password: ${ACCOUNTS.bridge.password}
meters: { timezone: UTC, relay_control: ["${METER}"], ack_timeout_seconds: 2, command_retries: 0 }
logging: { format: json, stats_interval_seconds: 0 }
`);
  await using ha = await TestClient.connect(central.url, "ha", ACCOUNTS.ha);
  await ha.subscribe(["kpm33b/#", "homeassistant/#"]);
  await using reader = await TestClient.connect(central.url, "reader", ACCOUNTS.reader);
  await reader.subscribe("kpm33b/#");
  await ha.waitFor(
    (r) => r.some((m) => m.topic === "kpm33b/bridge/state" && m.payload === "online"),
    "bridge online",
    30_000,
  );
  const meter = await startMeter(`mqtt://127.0.0.1:${internalPort}`, METER, "UTC");
  try {
    await meter.publishInstant();
    await ha.waitFor(
      (r) =>
        r.some((m) => m.topic === `kpm33b/${METER}/seconds`) &&
        r.some((m) => m.topic.startsWith("homeassistant/") && m.topic.endsWith("/config")),
      "the reading and its discovery on Home Assistant's account",
    );
    await reader.waitFor(
      (r) => r.some((m) => m.topic === `kpm33b/${METER}/seconds`),
      "the reading on the reading account",
    );

    // The reading account's requests are dropped by the broker; Home Assistant's are answered.
    await reader.publish("kpm33b/bridge/request/health", '{"transaction":"reader"}');
    await reader.publish(`kpm33b/${METER}/relay/set`, "ON");
    await ha.publish("kpm33b/bridge/request/health", '{"transaction":"ha"}');
    await ha.publish(`kpm33b/${METER}/relay/set`, "ON");
    await ha.waitFor(
      (r) => r.some((m) => m.topic === `kpm33b/${METER}/relay/result`),
      "the relay result",
      15_000,
    );
    await ha.waitFor(
      (r) => r.some((m) => m.topic === "kpm33b/bridge/response/health"),
      "the health answer",
    );
    // No second health answer arrives late.
    await sleep(300);
  } finally {
    await meter.stop();
  }
  const answers = ha.on("kpm33b/bridge/response/health").map((m) => JSON.parse(m.payload));
  assert.deepEqual(answers.map((a) => a.transaction), ["ha"]);
  const results = ha.on(`kpm33b/${METER}/relay/result`).map((m) => JSON.parse(m.payload));
  assert.deepEqual(results, [{ status: "ok", data: { id: METER, state: "ON" } }]);
  assert.equal(meter.commands.filter((c) => c.topic.startsWith("MQTT_TELECTRL_")).length, 1);
  assert.deepEqual(
    bridge.logLines().filter((l) => /refused subscriptions/.test(String(l.message))),
    [],
  );
});

Deno.test("the documented central ACL: only the bridge reads the cluster topics", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-central-acl-" });
  await using _dir = { [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
  await using central = await centralWithAcl(dir);
  await using bridge = await TestClient.connect(central.url, "bridge", ACCOUNTS.bridge);
  await bridge.subscribe("kpm33b/bridge/cluster/#");
  await using ha = await TestClient.connect(central.url, "ha", ACCOUNTS.ha);
  await using reader = await TestClient.connect(central.url, "reader", ACCOUNTS.reader);
  for (const client of [ha, reader]) await client.subscribe("kpm33b/#");
  for (const client of [ha, reader]) {
    await client.publish("kpm33b/bridge/cluster/proxy", '{"forged":true}');
  }
  await bridge.publish("kpm33b/bridge/cluster/config_sender", '{"event":1}');
  await bridge.publish(`kpm33b/${METER}/seconds`, '{"id":"x"}');
  for (const client of [ha, reader]) {
    await client.waitFor((r) => r.length > 0, "the reading");
  }
  await bridge.waitFor((r) => r.length > 0, "the bridge's own cluster event");
  // Nothing the ACL refuses arrives late.
  await sleep(300);
  assert.deepEqual(bridge.received.map((m) => m.payload), ['{"event":1}']);
  for (const client of [ha, reader]) {
    assert.deepEqual(client.received.map((m) => m.topic), [`kpm33b/${METER}/seconds`]);
  }
});
