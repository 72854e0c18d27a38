/**
 * The add-on's options as the Supervisor hands them over in
 * `/data/options.json`, after checking them against the `schema` of the
 * add-on's config.yaml (deploy/home-assistant-addon). Checked again here, with
 * messages that name the option as the add-on's Configuration tab shows it.
 *
 * @module
 */
import { z } from "zod";
import { LogLevel } from "../config/schema.ts";
import { MeterId } from "../protocol/meter_id.ts";

/** A display name for one meter (`meter_names`). */
export const MeterName = z.strictObject({
  id: MeterId,
  name: z.string().min(1).max(64),
});

/** `/data/options.json`. Unknown keys are dropped, as the Supervisor drops them. */
export const AddonOptions = z.object({
  /** The shared password of the meters' broker (user `meter`). */
  meter_password: z.string().default(""),
  /** IANA zone of the meter clocks; empty: Home Assistant's (the container's TZ). */
  timezone: z.string().default(""),
  meter_names: z.array(MeterName).default([]),
  relay_control: z.array(MeterId).default([]),
  log_level: LogLevel.default("info"),
  /** YAML merged over the generated configuration: any key of the bridge's config.yaml. */
  config_overrides: z.string().default(""),
});
/** `/data/options.json`. */
export type AddonOptions = z.infer<typeof AddonOptions>;

/** The options cannot be used; the message names the option and what to do. */
export class AddonOptionsError extends Error {
  override readonly name: string = "AddonOptionsError";
}

function optionPath(path: readonly PropertyKey[]): string {
  return path.map((key, i) =>
    typeof key === "number" ? `[${key}]` : `${i === 0 ? "" : "."}${String(key)}`
  ).join("");
}

/**
 * Validates the parsed `options.json`.
 *
 * @throws {AddonOptionsError} naming each invalid option
 */
export function parseAddonOptions(raw: unknown): AddonOptions {
  const result = AddonOptions.safeParse(raw);
  if (!result.success) {
    throw new AddonOptionsError(
      result.error.issues.map((issue) =>
        `option ${optionPath(issue.path)}: ${issue.message} (add-on page, Configuration tab)`
      ).join("\n"),
    );
  }
  const ids = result.data.meter_names.map((entry) => entry.id);
  const twice = ids.find((id, i) => ids.indexOf(id) !== i);
  if (twice !== undefined) {
    throw new AddonOptionsError(
      `option meter_names: ${twice} is named twice; keep one entry per meter ` +
        "(add-on page, Configuration tab)",
    );
  }
  return result.data;
}
