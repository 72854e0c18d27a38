/**
 * Live reload: watches the configuration file and hands over each new valid
 * configuration. An invalid change is reported with the exact error while the
 * running configuration stays in force.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { logger } from "../logging/setup.ts";
import { ConfigError } from "./config_error.ts";
import type { EnvLookup } from "./interpolate.ts";
import { loadConfig } from "./load.ts";
import type { Config } from "./schema.ts";

const log = logger("config");

/** Editors save in bursts (truncate, write, rename): wait for quiet. */
const SETTLE_MS = 300;

/**
 * Watches `path` (through its directory, so replacing the file by rename is
 * seen too) until the returned function is called.
 */
export function watchConfig(
  path: string,
  current: Config,
  env: EnvLookup,
  onChange: (config: Config) => void,
): () => void {
  const file = resolve(path);
  const watcher = Deno.watchFs(dirname(file), { recursive: false });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let last = JSON.stringify(current);
  let stopped = false;
  const reload = async () => {
    try {
      const config = await loadConfig(file, env);
      const text = JSON.stringify(config);
      if (stopped || text === last) return;
      last = text;
      onChange(config);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      log.error("Configuration change rejected; the running configuration stays:\n{problems}", {
        problems: error.message,
      });
    }
  };
  (async () => {
    for await (const event of watcher) {
      if (!event.paths.some((p) => p === file)) continue;
      clearTimeout(timer);
      timer = setTimeout(reload, SETTLE_MS);
    }
  })();
  return () => {
    stopped = true;
    clearTimeout(timer);
    watcher.close();
  };
}
