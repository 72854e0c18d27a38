/**
 * Mosquitto with the shipped `mosquitto/internal.conf` and the accounts
 * (`dynamic-security.json`) generated from a configuration passes the same
 * security contract as the embedded broker (except payload inspection, which
 * Mosquitto lacks).
 */
import { Config } from "../../src/config/schema.ts";
import { shippedInternalMosquitto } from "../helpers/mosquitto.ts";
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
