import assert from "node:assert/strict";
import { AccessPolicy } from "../../src/broker/access_policy.ts";
import { EmbeddedBroker } from "../../src/broker/embedded_broker.ts";
import { Config } from "../../src/config/schema.ts";
import { logger } from "../../src/logging/setup.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { freePort } from "../helpers/ports.ts";
import {
  brokerSecurityContract,
  CONTRACT_INTERNAL_BROKER,
  CONTRACT_METERS,
} from "./broker_security_contract.ts";

brokerSecurityContract("embedded broker", async () => {
  const config = Config.parse({
    internal_broker: { url: "mqtt://127.0.0.1:1", ...CONTRACT_INTERNAL_BROKER },
    meters: CONTRACT_METERS,
  });
  const internal = config.internal_broker;
  const port = freePort();
  const broker = await EmbeddedBroker.start({
    name: "internal",
    host: "127.0.0.1",
    port,
    policy: new AccessPolicy(internal.meter_auth, {
      username: internal.username!,
      password: internal.password!,
      clientIdPrefix: "bridge",
    }),
    log: logger("broker", "internal"),
  });
  return { url: `mqtt://127.0.0.1:${port}`, [Symbol.asyncDispose]: () => broker.stop() };
}, { enforcesPayloadId: true, refusesSubscriptions: true, reservesBridgeClientIds: true });

Deno.test("a port already in use is reported with what to do about it", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: freePort() });
  const { port } = taken.addr as Deno.NetAddr;
  try {
    await assert.rejects(
      EmbeddedBroker.start({
        name: "internal",
        host: "127.0.0.1",
        port,
        log: logger("broker", "internal"),
      }),
      new RegExp(`127\\.0\\.0\\.1:${port} is already in use .*embedded\\.enabled: false`),
    );
  } finally {
    taken.close();
  }
});

Deno.test("stop disconnects connected clients instead of waiting for them to leave", async () => {
  const port = freePort();
  const broker = await EmbeddedBroker.start({
    name: "central",
    host: "127.0.0.1",
    port,
    log: logger("broker", "central"),
  });
  await using client = await TestClient.connect(`mqtt://127.0.0.1:${port}`);
  const disconnected = new Promise<void>((resolve) => client.client.once("close", () => resolve()));
  // A listener's close waits for its open connections: without the broker
  // ending them, stop() would wait for as long as the client stays.
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<"stalled">((resolve) => {
    deadline = setTimeout(() => resolve("stalled"), 30_000);
  });
  try {
    assert.equal(await Promise.race([broker.stop().then(() => "stopped"), stalled]), "stopped");
  } finally {
    clearTimeout(deadline);
  }
  await disconnected;
});
