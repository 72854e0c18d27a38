/**
 * Mosquitto with the shipped `mosquitto/internal.conf` and the accounts
 * (`dynamic-security.json`) generated from a configuration passes the same
 * security contract as the embedded broker (except payload inspection, which
 * Mosquitto lacks).
 */
import assert from "node:assert/strict";
import { Config } from "../../src/config/schema.ts";
import { runMosquitto, shippedInternalMosquitto } from "../helpers/mosquitto.ts";
import { freePort } from "../helpers/ports.ts";
import { brokerSecurityContract, CONTRACT_INTERNAL_BROKER } from "./broker_security_contract.ts";

brokerSecurityContract("mosquitto (shipped internal.conf)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-shipped-" });
  const config = Config.parse({
    internal_broker: { url: "mqtt://127.0.0.1:1", ...CONTRACT_INTERNAL_BROKER },
  });
  const port = freePort();
  const mosquitto = await shippedInternalMosquitto(config, dir, port);
  return {
    url: mosquitto.url,
    async [Symbol.asyncDispose]() {
      await mosquitto.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}, { enforcesPayloadId: false, refusesSubscriptions: true, reservesBridgeClientIds: false });

Deno.test("the shipped Mosquitto configurations start without a warning (no deprecated option)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-shipped-" });
  try {
    const config = Config.parse({
      internal_broker: { url: "mqtt://127.0.0.1:1", ...CONTRACT_INTERNAL_BROKER },
    });
    const internal = await shippedInternalMosquitto(config, dir, freePort());
    await internal.stop();
    const port = freePort();
    const shippedCentral = await Deno.readTextFile(
      new URL("../../mosquitto/central.conf", import.meta.url),
    );
    const central = await runMosquitto(
      shippedCentral.replace(/^listener 1883 /m, `listener ${port} `),
      port,
    );
    await central.stop();
    for (
      const [name, log] of [
        ["internal.conf", internal.log()],
        ["central.conf", central.log()],
      ] as const
    ) {
      // The log is read: the port probe's connection is in it.
      assert.match(log, /New connection from 127\.0\.0\.1/, name);
      // Mosquitto 2.0 says "Note: It is recommended to replace …" for deprecated options.
      const complaints = log.split("\n").filter((line) =>
        /warning|deprecat|recommended to replace/i.test(line)
      );
      assert.deepEqual(complaints, [], name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
