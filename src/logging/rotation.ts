/**
 * When a log file rotates and what the rotated files are called: pure rules
 * for {@link RotatingFile}. Rotated files are numbered like logrotate's:
 * `bridge.log.1` is the newest, `bridge.log.<keep>` the oldest kept.
 *
 * @module
 */

/** When to start a new file, and how many old ones to keep. */
export interface RotationPolicy {
  /** Start a new file on the first line of each local day. */
  readonly daily: boolean;
  /** Start a new file before it would grow beyond this; 0 is no limit. */
  readonly maxBytes: number;
  /** Rotated files kept; older ones are deleted. */
  readonly keep: number;
}

/** The file being written. */
export interface CurrentFile {
  readonly bytes: number;
  /** Local day (`YYYY-MM-DD`) its first line was written, or it was last modified. */
  readonly day: string;
}

/** The local calendar day of `date` as `YYYY-MM-DD`. */
export function localDay(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/**
 * Whether to rotate before writing `lineBytes` more on `today`. An empty file
 * never rotates, so one line longer than `maxBytes` is written to a fresh
 * file instead of rotating forever.
 */
export function rotationDue(
  file: CurrentFile,
  lineBytes: number,
  today: string,
  policy: RotationPolicy,
): boolean {
  if (file.bytes === 0) return false;
  if (policy.daily && file.day !== today) return true;
  return policy.maxBytes > 0 && file.bytes + lineBytes > policy.maxBytes;
}

/** The rotated files of `path`, newest first: `path.1` … `path.<keep>`. */
export function rotatedPaths(path: string, keep: number): string[] {
  return Array.from({ length: keep }, (_, i) => `${path}.${i + 1}`);
}
