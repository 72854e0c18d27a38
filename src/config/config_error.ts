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
  override readonly name: string = "ConfigError";

  constructor(readonly problems: readonly ConfigProblem[]) {
    super(
      problems.map((p) => `${p.location}${p.path === "" ? "" : ` ${p.path}`}: ${p.message}`)
        .join("\n"),
    );
  }
}

/**
 * The configuration file holds no settings at all: empty, only blanks, or
 * only comments (YAML that parses to nothing). This is what an editor or a
 * configuration-management run leaves for a moment while it saves, so it is
 * never taken as "every default": at start the bridge refuses to run, on
 * reload the running configuration stays. `{}` asks for every default.
 */
export class EmptyConfigError extends ConfigError {
  override readonly name: string = "EmptyConfigError";

  constructor(readonly file: string) {
    super([{
      location: file,
      path: "",
      message: "the file is empty (nothing but blanks or comments); " +
        "write the configuration into it, or {} to run on every default",
    }]);
  }
}

/**
 * The configuration file kept changing while it was read: a save still in
 * progress. Taking either version could apply half a file.
 */
export class UnsettledConfigError extends ConfigError {
  override readonly name: string = "UnsettledConfigError";

  constructor(readonly file: string, reads: number, settleMs: number) {
    super([{
      location: file,
      path: "",
      message: `the file changed between each of ${reads} reads ${settleMs} ms apart ` +
        "(a save still in progress?); reload again once it is saved",
    }]);
  }
}
