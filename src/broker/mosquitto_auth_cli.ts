/**
 * `deno task mosquitto:auth`: writes Mosquitto's accounts for the meters'
 * broker (its dynamic security plugin's configuration) from `config.yaml`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError } from "../config/config_error.ts";
import { loadConfig } from "../config/load.ts";
import { MosquittoFilesError } from "./mosquitto_files.ts";
import { writeMosquittoAuth } from "./mosquitto_auth_writer.ts";

const USAGE = `Usage: deno task mosquitto:auth [--config config.yaml] [--out mosquitto/]

Writes <out>/dynamic-security.json (mode 600) for mosquitto/internal.conf from
internal_broker.username/password (the bridge) and internal_broker.meter_auth.`;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    config: { type: "string", default: "config.yaml" },
    out: { type: "string", default: "mosquitto" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
try {
  const config = await loadConfig(values.config, (name) => Deno.env.get(name));
  const written = await writeMosquittoAuth(config, values.out);
  for (const warning of written.warnings) console.warn(`warning: ${warning}`);
  console.log(`wrote ${written.path}`);
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`Invalid configuration:\n${error.message}`);
    Deno.exit(78);
  }
  if (error instanceof MosquittoFilesError) {
    console.error(error.message);
    Deno.exit(78);
  }
  throw error;
}
