/**
 * Command-line options of the bridge.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { MeterId } from "./protocol/meter_id.ts";
import { SELECTABLE_WORKERS, type SelectableWorker } from "./supervisor/workers.ts";

/** What the command line asks for. */
export type CliCommand =
  | {
    readonly kind: "run";
    readonly configPath: string;
    /** The workers to run; all of them unless `--workers` narrows it. */
    readonly workers: readonly SelectableWorker[];
  }
  | { readonly kind: "check-config"; readonly configPath: string }
  | { readonly kind: "write-mosquitto-auth"; readonly configPath: string; readonly dir: string }
  | { readonly kind: "reset-meter-history"; readonly configPath: string; readonly id: MeterId }
  | { readonly kind: "help" }
  | { readonly kind: "version" }
  | { readonly kind: "usage-error"; readonly message: string };

/** Usage text for `--help`. */
export const USAGE = `kpm33b-bridge: Compere KPM33B meters to Home Assistant and any MQTT system

Usage: kpm33b-bridge [--config PATH] [--workers LIST]
                     [--check-config | --write-mosquitto-auth DIR | --reset-meter-history ID]

Options:
  -c, --config PATH    configuration file (default: ./config.yaml)
      --check-config   validate the configuration, print a summary and exit
                       (exit code 0 when valid, 78 when not)
      --write-mosquitto-auth DIR
                       write DIR/dynamic-security.json (the accounts) for
                       Mosquitto as the meters' broker (mosquitto/internal.conf)
                       from the configuration and exit
      --reset-meter-history ID
                       forget what the bridge remembers of meter ID's readings
                       (its filter history in state_dir) and exit, e.g. for a
                       meter replaced under the same id; with the bridge
                       stopped (while it runs: bridge API meter/reset_history)
      --workers LIST   run only these of proxy, config_sender, http (comma
                       separated; default all): e.g. replicas that share the
                       meters run proxy,http and one process config_sender
                       (docs/scaling.md)
  -h, --help           show this help
  -V, --version        show the version
`;

/** Parses command-line arguments. */
export function parseCli(args: readonly string[]): CliCommand {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: {
        config: { type: "string", short: "c", default: "./config.yaml" },
        "check-config": { type: "boolean", default: false },
        "write-mosquitto-auth": { type: "string" },
        "reset-meter-history": { type: "string" },
        workers: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
        version: { type: "boolean", short: "V", default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    return { kind: "usage-error", message: (error as Error).message };
  }
  const { values } = parsed;
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  const authDir = values["write-mosquitto-auth"];
  const resetId = values["reset-meter-history"];
  const actions = [
    values["check-config"] ? "--check-config" : undefined,
    authDir === undefined ? undefined : "--write-mosquitto-auth",
    resetId === undefined ? undefined : "--reset-meter-history",
  ].filter((action) => action !== undefined);
  if (actions.length > 1) {
    return { kind: "usage-error", message: `${actions.join(" and ")} cannot be combined` };
  }
  if (values["check-config"]) return { kind: "check-config", configPath: values.config };
  if (authDir !== undefined) {
    return { kind: "write-mosquitto-auth", configPath: values.config, dir: authDir };
  }
  if (resetId !== undefined) {
    const id = MeterId.safeParse(resetId);
    if (!id.success) {
      return {
        kind: "usage-error",
        message: `--reset-meter-history ${JSON.stringify(resetId)}: ${id.error.issues[0]?.message}`,
      };
    }
    return { kind: "reset-meter-history", configPath: values.config, id: id.data };
  }
  const workers = values.workers === undefined
    ? [...SELECTABLE_WORKERS]
    : values.workers.split(",").map((name) => name.trim());
  const unknown = workers.filter((name) =>
    !(SELECTABLE_WORKERS as readonly string[]).includes(name)
  );
  if (unknown.length > 0 || workers.length === 0) {
    return {
      kind: "usage-error",
      message: `--workers ${JSON.stringify(values.workers)}: ${
        unknown.length > 0 ? `unknown ${unknown.map((n) => JSON.stringify(n)).join(", ")}` : "empty"
      }; choose from ${SELECTABLE_WORKERS.join(", ")}`,
    };
  }
  return {
    kind: "run",
    configPath: values.config,
    workers: [...new Set(workers)] as SelectableWorker[],
  };
}
