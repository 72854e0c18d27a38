/**
 * The bridge's workers: which module each runs and with what permissions.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import type { ClusterWorker } from "../protocol/cluster.ts";
import { LOG_FILE_WORKER } from "../logging/log_file.ts";
import {
  brokerPermissions,
  configSenderPermissions,
  httpPermissions,
  proxyPermissions,
} from "./permissions.ts";
import type { WorkerSpec } from "./supervisor.ts";

/** Workers `--workers` can select. */
export const SELECTABLE_WORKERS = ["proxy", "config_sender", "http"] as const;
/** A worker `--workers` can select. */
export type SelectableWorker = (typeof SELECTABLE_WORKERS)[number];

/** Worker modules, also listed for `deno compile --include`. */
export const WORKER_MODULES = {
  broker: new URL("../broker/worker.ts", import.meta.url),
  proxy: new URL("../proxy/worker.ts", import.meta.url),
  config_sender: new URL("../config_sender/worker.ts", import.meta.url),
  http: new URL("../http/worker.ts", import.meta.url),
  /** Started by the logging set-up, not supervised: it must outlive the others. */
  log_file: LOG_FILE_WORKER,
} as const;

/**
 * Every worker the bridge runs for a configuration: the embedded brokers that
 * are enabled (started first), the proxy, the config sender and, when
 * `http.enabled`, the HTTP endpoint; of the last three only those
 * `selected` (`--workers`). `state_dir` must be an absolute path:
 * permissions are checked against it.
 */
export function workerSpecs(
  config: Config,
  selected: readonly SelectableWorker[] = ["proxy", "config_sender", "http"],
): WorkerSpec[] {
  const brokers = (["internal_broker", "central_broker"] as const)
    .filter((role) => config[role].embedded.enabled)
    .map((role): WorkerSpec => ({
      name: role,
      url: WORKER_MODULES.broker,
      permissions: brokerPermissions(config, role),
      startFirst: true,
    }));
  const services: WorkerSpec[] = [
    { name: "proxy", url: WORKER_MODULES.proxy, permissions: proxyPermissions(config) },
    {
      name: "config_sender",
      url: WORKER_MODULES.config_sender,
      permissions: configSenderPermissions(config),
    },
    ...(config.http.enabled
      ? [{ name: "http", url: WORKER_MODULES.http, permissions: httpPermissions(config) }]
      : []),
  ];
  return [
    ...brokers,
    ...services.filter((spec) => selected.includes(spec.name as SelectableWorker)),
  ];
}

/** The bridge's workers that `selected` leaves to other processes. */
export function remoteWorkers(selected: readonly SelectableWorker[]): ClusterWorker[] {
  return (["proxy", "config_sender"] as const).filter((name) => !selected.includes(name));
}
