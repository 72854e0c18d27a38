/**
 * Writes Mosquitto's accounts for the meters' broker into a directory: the
 * I/O edge of {@link mosquittoFiles}, shared by `deno task mosquitto:auth` and
 * `kpm33b-bridge --write-mosquitto-auth`.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import { DYNSEC_FILE, mosquittoFiles } from "./mosquitto_files.ts";

/** What {@link writeMosquittoAuth} wrote. */
export interface WrittenMosquittoAuth {
  /** The dynamic security plugin's configuration. */
  readonly path: string;
  /** Things the user should know, e.g. that no meter can log in. */
  readonly warnings: readonly string[];
}

/** Files earlier versions wrote, which Mosquitto would go on using with an old internal.conf. */
const SUPERSEDED = ["passwd", "acl"];

/**
 * Writes `<dir>/dynamic-security.json` (mode 600: it holds password hashes),
 * creating `dir` if needed.
 *
 * @throws {MosquittoFilesError} when the configuration lacks an account Mosquitto needs
 */
export async function writeMosquittoAuth(
  config: Config,
  dir: string,
): Promise<WrittenMosquittoAuth> {
  const files = await mosquittoFiles(config);
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir}/${DYNSEC_FILE}`;
  await Deno.writeTextFile(path, files.dynsec, { mode: 0o600 });
  // `mode` applies only to a new file; an existing one may have been wider.
  await Deno.chmod(path, 0o600);
  const superseded = await existing(SUPERSEDED.map((name) => `${dir}/${name}`));
  const warnings = [...files.warnings];
  if (superseded.length > 0) {
    warnings.push(
      `${superseded.join(" and ")} no longer change with config.yaml: Mosquitto reads ` +
        `${path} through its dynamic security plugin; replace password_file and acl_file in ` +
        "your Mosquitto configuration with the plugin lines of mosquitto/internal.conf, " +
        "then delete these files",
    );
  }
  return { path, warnings };
}

async function existing(paths: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const path of paths) {
    try {
      await Deno.lstat(path);
      found.push(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return found;
}
