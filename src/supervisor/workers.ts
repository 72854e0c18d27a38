/**
 * The bridge's workers: which module each runs and with what permissions.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import { configSenderPermissions, proxyPermissions } from "./permissions.ts";
import type { WorkerSpec } from "./supervisor.ts";

/** Worker modules, also listed for `deno compile --include`. */
export const WORKER_MODULES = {
  proxy: new URL("../proxy/worker.ts", import.meta.url),
  config_sender: new URL("../config_sender/worker.ts", import.meta.url),
} as const;

/**
 * Every worker the bridge runs for a configuration. `state_dir` must be an
 * absolute path: permissions are checked against it.
 */
export function workerSpecs(config: Config): WorkerSpec[] {
  return [
    { name: "proxy", url: WORKER_MODULES.proxy, permissions: proxyPermissions(config) },
    {
      name: "config_sender",
      url: WORKER_MODULES.config_sender,
      permissions: configSenderPermissions(config),
    },
  ];
}
