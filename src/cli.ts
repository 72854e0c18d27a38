/**
 * Command-line options of the bridge.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** What the command line asks for. */
export type CliCommand =
  | { readonly kind: "run"; readonly configPath: string }
  | { readonly kind: "check-config"; readonly configPath: string }
  | { readonly kind: "help" }
  | { readonly kind: "version" }
  | { readonly kind: "usage-error"; readonly message: string };

/** Usage text for `--help`. */
export const USAGE = `kpm33b-bridge: Compere KPM33B meters to Home Assistant and any MQTT system

Usage: kpm33b-bridge [--config PATH] [--check-config]

Options:
  -c, --config PATH    configuration file (default: ./config.yaml)
      --check-config   validate the configuration, print a summary and exit
                       (exit code 0 when valid, 78 when not)
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
  if (values["check-config"]) return { kind: "check-config", configPath: values.config };
  return { kind: "run", configPath: values.config };
}
