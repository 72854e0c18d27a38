/**
 * Settings that are valid but work against the user: said at start, by
 * `--check-config` and on reload, without refusing the file (a test rig or a
 * time-scaled simulation may want them). Pure.
 *
 * @module
 */
import type { Config } from "./schema.ts";

/** Warnings about a valid configuration, each naming the key and what to do. */
export function configWarnings(config: Config): string[] {
  const warnings: string[] = [];
  const { meters } = config;
  const timeout = meters.availability_timeout_seconds;
  const longest = Math.max(
    meters.upload_interval_seconds,
    ...Object.values(meters.overrides).map((o) => o.upload_interval_seconds ?? 0),
  );
  if (timeout !== undefined && timeout <= longest) {
    warnings.push(
      `meters.availability_timeout_seconds: ${timeout} s is not longer than the longest ` +
        `seconds-level upload interval (${longest} s), so meters show offline between their ` +
        `readings; set at least ${2 * longest}, or remove it to follow the interval ` +
        "(meters.availability_factor)",
    );
  }
  return warnings;
}
