/**
 * Mosquitto with the shipped `mosquitto/internal.conf` and the password and
 * ACL files generated from a configuration passes the same security contract
 * as the embedded broker (except payload inspection, which Mosquitto lacks).
 */
import { mosquittoFiles } from "../../src/broker/mosquitto_files.ts";
import { Config } from "../../src/config/schema.ts";
import { runMosquitto } from "../helpers/mosquitto.ts";
import { freePort } from "../helpers/ports.ts";
import { brokerSecurityContract, CONTRACT_INTERNAL_BROKER } from "./broker_security_contract.ts";

const SHIPPED = new URL("../../mosquitto/internal.conf", import.meta.url);

/**
 * The shipped configuration with only its port and file locations moved into
 * `dir`, and the generated files written there.
 */
export async function shippedInternalMosquitto(config: Config, dir: string, port: number) {
  const files = await mosquittoFiles(config);
  await Deno.writeTextFile(`${dir}/passwd`, files.passwd, { mode: 0o600 });
  await Deno.writeTextFile(`${dir}/acl`, files.acl);
  await Deno.mkdir(`${dir}/data`);
  // Mosquitto started as root drops to its own user before reading these files; as
  // another user the chown fails harmlessly and Mosquitto reads them as that user.
  await new Deno.Command("chown", {
    args: ["mosquitto", dir, `${dir}/passwd`, `${dir}/acl`, `${dir}/data`],
    stderr: "null",
  }).output();
  const shipped = await Deno.readTextFile(SHIPPED);
  const text = shipped
    .replace(/^listener 11883$/m, `listener ${port} 127.0.0.1`)
    .replaceAll("mosquitto/", `${dir}/`);
  if (text === shipped) throw new Error("the shipped internal.conf changed shape");
  return await runMosquitto(text, port);
}

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
}, { enforcesPayloadId: false, refusesSubscriptions: false });
