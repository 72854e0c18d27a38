/**
 * Reads the PEM files a configuration names (`*_file` keys) into the
 * configuration itself, so that workers get certificates and keys without
 * any file access of their own.
 *
 * @module
 */
import { resolve } from "node:path";
import { ConfigError, type ConfigProblem } from "./config_error.ts";
import type { Config } from "./schema.ts";

interface PemSlot {
  /** Dotted key path of the `*_file` key. */
  readonly path: string;
  readonly file: string | undefined;
  readonly store: (pem: string) => void;
}

function slots(config: Config): PemSlot[] {
  const result: PemSlot[] = [];
  for (const name of ["internal_broker", "central_broker"] as const) {
    const broker = config[name];
    const tls = broker.tls;
    result.push(
      { path: `${name}.tls.ca_file`, file: tls.ca_file, store: (pem) => tls.ca = pem },
      { path: `${name}.tls.cert_file`, file: tls.cert_file, store: (pem) => tls.cert = pem },
      { path: `${name}.tls.key_file`, file: tls.key_file, store: (pem) => tls.key = pem },
    );
    const listener = broker.embedded.tls;
    if (listener !== undefined) {
      result.push(
        {
          path: `${name}.embedded.tls.cert_file`,
          file: listener.cert_file,
          store: (pem) => listener.cert = pem,
        },
        {
          path: `${name}.embedded.tls.key_file`,
          file: listener.key_file,
          store: (pem) => listener.key = pem,
        },
      );
    }
  }
  return result;
}

/**
 * Reads every PEM file the configuration names (relative paths against the
 * current directory, like `state_dir`) into the matching PEM key.
 *
 * @throws {ConfigError} naming each file that cannot be read or is not PEM
 */
export async function readPemFiles(config: Config, configPath: string): Promise<Config> {
  const copy = structuredClone(config);
  const problems: ConfigProblem[] = [];
  for (const slot of slots(copy)) {
    if (slot.file === undefined) continue;
    if (/-----BEGIN |\n/.test(slot.file)) {
      // Key material pasted where a file name belongs: it must not be repeated as a path.
      problems.push({
        location: configPath,
        path: slot.path,
        message: "holds PEM text, not a file name: save the PEM text to a file and write its " +
          "path here (value not shown: it may be a private key)",
      });
      continue;
    }
    const file = resolve(slot.file);
    try {
      const pem = await Deno.readTextFile(file);
      if (!pem.includes("-----BEGIN ")) {
        problems.push({
          location: configPath,
          path: slot.path,
          message: `${file} is not a PEM file (no "-----BEGIN" line)`,
        });
        continue;
      }
      slot.store(pem);
    } catch (error) {
      const reason = error instanceof Deno.errors.NotFound
        ? "file not found"
        : (error as Error).message;
      problems.push({ location: configPath, path: slot.path, message: `${file}: ${reason}` });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return copy;
}
