/**
 * Reading a configuration file that may be being saved right now: an editor
 * or a configuration-management run truncates and rewrites it, possibly in
 * several writes, so one read can catch half a file — and half a file can be
 * valid YAML that means something else (a missing `meters.exclude`, say). The
 * file is read, read again after a short pause, and taken only when both
 * reads agree.
 *
 * @module
 */
import { ConfigError, UnsettledConfigError } from "./config_error.ts";
import { readConfigText } from "./load.ts";

/** How long to wait between two reads of the file. */
export const READ_SETTLE_MS = 300;

/** Reads at most this many times (the first and then one after each pause) before giving up. */
export const MAX_SETTLE_READS = 5;

/** Pauses and bounds of {@link readSettledText}. */
export interface SettleOptions {
  readonly settleMs: number;
  readonly maxReads: number;
}

type Outcome = { readonly text: string } | { readonly error: ConfigError };

function same(a: Outcome, b: Outcome): boolean {
  if ("text" in a) return "text" in b && a.text === b.text;
  return "error" in b && a.error.message === b.error.message;
}

async function readOnce(path: string): Promise<Outcome> {
  try {
    return { text: await readConfigText(path) };
  } catch (error) {
    if (error instanceof ConfigError) return { error };
    throw error;
  }
}

/**
 * The text of `path` once two reads `settleMs` apart agree (a missing or
 * unreadable file counts as an outcome too, so a file removed for good is
 * reported as such).
 *
 * @throws {UnsettledConfigError} when no two consecutive reads of `maxReads` agree
 * @throws {ConfigError} when the file is consistently missing or unreadable
 */
export async function readSettledText(
  path: string,
  options: SettleOptions = { settleMs: READ_SETTLE_MS, maxReads: MAX_SETTLE_READS },
): Promise<string> {
  let previous = await readOnce(path);
  for (let read = 2; read <= options.maxReads; read++) {
    await new Promise((resolve) => setTimeout(resolve, options.settleMs));
    const current = await readOnce(path);
    if (same(previous, current)) {
      if ("error" in current) throw current.error;
      return current.text;
    }
    previous = current;
  }
  throw new UnsettledConfigError(path, options.maxReads, options.settleMs);
}
