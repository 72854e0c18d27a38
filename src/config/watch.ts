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

/** A running watch. */
export interface ConfigWatch {
  /**
   * Reads the file now (the bridge API's `config/reload`): applies it if it
   * changed, and tells whether it was valid, changed or unchanged.
   */
  reload(): Promise<{ ok: true; data: { changed: boolean } } | { ok: false; error: string }>;
  /** Ends the watch. */
  stop(): void;
}

/**
 * Watches `path` (through its directory, so replacing the file by rename is
 * seen too) until `stop` is called.
 */
export function watchConfig(
  path: string,
  current: Config,
  env: EnvLookup,
  onChange: (config: Config) => void,
): ConfigWatch {
  const file = resolve(path);
  const watcher = Deno.watchFs(dirname(file), { recursive: false });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let last = JSON.stringify(current);
  let stopped = false;
  const reload: ConfigWatch["reload"] = async () => {
    try {
      const config = await loadConfig(file, env);
      const text = JSON.stringify(config);
      if (stopped || text === last) return { ok: true, data: { changed: false } };
      last = text;
      onChange(config);
      return { ok: true, data: { changed: true } };
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      log.error("Configuration change rejected; the running configuration stays:\n{problems}", {
        problems: error.message,
      });
      return { ok: false, error: `invalid configuration, the running one stays: ${error.message}` };
    }
  };
  (async () => {
    for await (const event of watcher) {
      if (!event.paths.some((p) => p === file)) continue;
      clearTimeout(timer);
      timer = setTimeout(reload, SETTLE_MS);
    }
  })();
  return {
    reload,
    stop() {
      stopped = true;
      clearTimeout(timer);
      watcher.close();
    },
  };
}
