/**
 * Writes Mosquitto's password file and ACL for the meters' broker into a
 * directory: the I/O edge of {@link mosquittoFiles}, shared by
 * `deno task mosquitto:auth` and `kpm33b-bridge --write-mosquitto-auth`.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import { mosquittoFiles } from "./mosquitto_files.ts";

/** What {@link writeMosquittoAuth} wrote. */
export interface WrittenMosquittoAuth {
  readonly passwdPath: string;
  readonly aclPath: string;
  /** Things the user should know, e.g. meters that share the shared account's ACL. */
  readonly warnings: readonly string[];
}

/**
 * Writes `<dir>/passwd` (mode 600: it holds password hashes) and `<dir>/acl`
 * (mode 644), creating `dir` if needed.
 *
 * @throws {MosquittoFilesError} when the configuration lacks an account Mosquitto needs
 */
export async function writeMosquittoAuth(
  config: Config,
  dir: string,
): Promise<WrittenMosquittoAuth> {
  const files = await mosquittoFiles(config);
  await Deno.mkdir(dir, { recursive: true });
  const passwdPath = `${dir}/passwd`;
  const aclPath = `${dir}/acl`;
  await Deno.writeTextFile(passwdPath, files.passwd, { mode: 0o600 });
  // `mode` applies only to a new file; an existing one may have been wider.
  await Deno.chmod(passwdPath, 0o600);
  await Deno.writeTextFile(aclPath, files.acl, { mode: 0o644 });
  return { passwdPath, aclPath, warnings: files.warnings };
}
