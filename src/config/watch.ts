/**
 * Live reload: watches the configuration file and hands over each new valid
 * configuration. A change that cannot be meant — an invalid file, an empty
 * one, one still being written — is reported with what to do while the
 * running configuration stays in force.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import type { Logger } from "@logtape/logtape";
import { ConfigError, EmptyConfigError, UnsettledConfigError } from "./config_error.ts";
import type { EnvLookup } from "./interpolate.ts";
import { configFromText } from "./load.ts";
import type { Config } from "./schema.ts";
import {
  MAX_SETTLE_READS,
  READ_SETTLE_MS,
  readSettledText,
  type SettleOptions,
} from "./settled_read.ts";

/** Editors save in bursts (truncate, write, rename): the file is read once events paused this long. */
export const QUIET_MS = 200;

/** Timings of {@link watchConfig}: the wait for quiet after a change, then the settled read. */
export interface WatchOptions extends SettleOptions {
  /** How long events on the file must pause before it is read. */
  readonly quietMs: number;
}

/** The outcome of a reload, as the bridge API's `config/reload` answers it. */
export type ReloadResult =
  | { ok: true; data: { changed: boolean } }
  | { ok: false; error: string };

/** A running watch. */
export interface ConfigWatch {
  /**
   * Reads the file now (the bridge API's `config/reload`), as a change of the
   * file would: applies it if it changed, and tells whether it was valid,
   * changed or unchanged.
   */
  reload(): Promise<ReloadResult>;
  /** Ends the watch. */
  stop(): void;
}

/** Where a watch logs why a change was not applied. */
export type ConfigWatchLog = Pick<Logger, "error" | "warning">;

/** Logs why `file` was not applied; returns the answer for the bridge API. */
function refuse(log: ConfigWatchLog, file: string, error: ConfigError): string {
  if (error instanceof EmptyConfigError) {
    log.error(
      "{path} is empty; the running configuration stays. A save in progress can leave it so for " +
        "a moment: the next complete save is applied. To run on every default, write {{}} into it",
      { path: file },
    );
    return `${file} is empty; the running configuration stays ` +
      "(write the configuration into it, or {} for every default)";
  }
  if (error instanceof UnsettledConfigError) {
    log.warning(
      "{path} was still being written ({problem}); the running configuration stays. Its next " +
        "change is read again, or reload once the save is complete",
      { path: file, problem: error.problems[0]?.message },
    );
    return `${file} was still being written; the running configuration stays ` +
      "(reload again once the save is complete)";
  }
  log.error("Configuration change rejected; the running configuration stays:\n{problems}", {
    problems: error.message,
  });
  return `invalid configuration, the running one stays: ${error.message}`;
}

/**
 * Watches `path` (through its directory, so replacing the file by rename is
 * seen too) until `stop` is called. A change of the file is read once its
 * events paused `options.quietMs`. Every read, on a change of the file or on
 * request, takes the file only once two reads `options.settleMs` apart agree.
 * Why a change was not applied goes to `log`.
 */
export function watchConfig(
  path: string,
  current: Config,
  env: EnvLookup,
  onChange: (config: Config) => void,
  log: ConfigWatchLog,
  options: WatchOptions = {
    quietMs: QUIET_MS,
    settleMs: READ_SETTLE_MS,
    maxReads: MAX_SETTLE_READS,
  },
): ConfigWatch {
  const file = resolve(path);
  const watcher = Deno.watchFs(dirname(file), { recursive: false });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let last = JSON.stringify(current);
  let stopped = false;
  const apply = async (): Promise<ReloadResult> => {
    try {
      const config = await configFromText(await readSettledText(file, options), file, env);
      const text = JSON.stringify(config);
      if (stopped || text === last) return { ok: true, data: { changed: false } };
      last = text;
      onChange(config);
      return { ok: true, data: { changed: true } };
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      return { ok: false, error: refuse(log, file, error) };
    }
  };
  // One read at a time: a change of the file and a request must not apply out of order.
  let queue: Promise<unknown> = Promise.resolve();
  const reload = (): Promise<ReloadResult> => {
    const result = queue.then(apply);
    queue = result.catch(() => {});
    return result;
  };
  (async () => {
    for await (const event of watcher) {
      if (!event.paths.some((p) => p === file)) continue;
      clearTimeout(timer);
      timer = setTimeout(reload, options.quietMs);
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
