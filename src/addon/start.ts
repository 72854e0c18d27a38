/**
 * Entry of the Home Assistant add-on image: turns `/data/options.json` and
 * the Supervisor's MQTT service into the bridge's configuration, checks it
 * with the bridge's own loader, writes it (mode 600: it holds passwords) and
 * runs the bridge on it in this process.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { main } from "../../main.ts";
import { ConfigError } from "../config/config_error.ts";
import { parseConfig } from "../config/load.ts";
import { AddonOptionsError, parseAddonOptions } from "./addon_options.ts";
import { ADDON_LAYOUT, addonConfig, AddonConfigError, addonConfigText } from "./addon_config.ts";
import { lookUpMqttService, MqttServiceError, type MqttServiceLookup } from "./mqtt_service.ts";

/** Exit code for unusable options (sysexits EX_CONFIG), as the bridge's. */
const EXIT_CONFIG = 78;
/** Exit code when the Supervisor cannot be asked (sysexits EX_UNAVAILABLE). */
const EXIT_UNAVAILABLE = 69;
/** Tries at the Supervisor, which may still be starting its API at boot. */
const LOOKUP_ATTEMPTS = 5;
const LOOKUP_PAUSE_MS = 2000;

const say = (message: string) => console.error(`kpm33b-bridge add-on: ${message}`);

async function lookUp(supervisor: string, token: string): Promise<MqttServiceLookup> {
  for (let attempt = 1;; attempt++) {
    try {
      return await lookUpMqttService(supervisor, token);
    } catch (error) {
      if (
        !(error instanceof MqttServiceError) || !error.retryable || attempt === LOOKUP_ATTEMPTS
      ) throw error;
      say(`${error.message}; trying again (${attempt} of ${LOOKUP_ATTEMPTS})`);
      await new Promise((resolve) => setTimeout(resolve, LOOKUP_PAUSE_MS));
    }
  }
}

/**
 * Writes the configuration; resolves to its path, or to an exit code when it
 * cannot. `args` move the add-on's paths and ports (tests run it outside an
 * add-on container).
 */
export async function prepare(args: readonly string[]): Promise<string | number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      options: { type: "string", default: "/data/options.json" },
      config: { type: "string", default: "/data/kpm33b-bridge.yaml" },
      "state-dir": { type: "string", default: ADDON_LAYOUT.stateDir },
      supervisor: { type: "string", default: "http://supervisor" },
      "meters-port": { type: "string", default: String(ADDON_LAYOUT.metersPort) },
      "http-port": { type: "string", default: String(ADDON_LAYOUT.httpPort) },
    },
    strict: true,
  });
  try {
    const options = parseAddonOptions(JSON.parse(await Deno.readTextFile(values.options)));
    const token = Deno.env.get("SUPERVISOR_TOKEN") ?? "";
    const mqtt: MqttServiceLookup = token === ""
      ? { available: false, reason: "SUPERVISOR_TOKEN is not set" }
      : await lookUp(values.supervisor, token);
    const text = addonConfigText(addonConfig(options, mqtt, {
      stateDir: values["state-dir"],
      metersPort: Number(values["meters-port"]),
      httpPort: Number(values["http-port"]),
    }));
    // The bridge's own loader, so a configuration it would refuse is never written.
    const config = parseConfig(text, values.config, () => undefined);
    await Deno.writeTextFile(values.config, text, { mode: 0o600 });
    await Deno.chmod(values.config, 0o600);
    say(
      `configuration written to ${values.config}; central broker ${
        new URL(config.central_broker.url).host
      }${mqtt.available ? " (Home Assistant's MQTT service)" : ""}`,
    );
    return values.config;
  } catch (error) {
    if (error instanceof MqttServiceError) {
      say(error.message);
      return EXIT_UNAVAILABLE;
    }
    if (error instanceof Deno.errors.NotFound || error instanceof SyntaxError) {
      say(`cannot read the add-on's options ${values.options}: ${(error as Error).message}`);
      return EXIT_CONFIG;
    }
    if (
      error instanceof AddonOptionsError || error instanceof AddonConfigError ||
      error instanceof ConfigError
    ) {
      say(`cannot start:\n${error.message}`);
      return EXIT_CONFIG;
    }
    throw error;
  }
}

if (import.meta.main) {
  const prepared = await prepare(Deno.args);
  Deno.exit(typeof prepared === "number" ? prepared : await main(["--config", prepared]));
}
