/**
 * A configuration that cannot be used, with every problem found.
 *
 * @module
 */

/** One problem, located in the file where possible. */
export interface ConfigProblem {
  /** `file:line:column` or just the file name. */
  readonly location: string;
  /** Dotted key path, e.g. `meters.upload_interval_seconds`; empty for the file itself. */
  readonly path: string;
  /** What is wrong and what is allowed. */
  readonly message: string;
}

/** Thrown when `config.yaml` cannot be read, parsed or validated. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";

  constructor(readonly problems: readonly ConfigProblem[]) {
    super(
      problems.map((p) => `${p.location}${p.path === "" ? "" : ` ${p.path}`}: ${p.message}`)
        .join("\n"),
    );
  }
}
