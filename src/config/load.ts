/**
 * Loading `config.yaml`: YAML with source positions, `${VAR}` interpolation,
 * validation, and error messages that name file, line, key, value and what is
 * allowed.
 *
 * @module
 */
import { resolve } from "node:path";
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit } from "yaml";
import type { z } from "zod";
import { isSecretPath, maskSecretPieces, maskSecrets } from "./redact.ts";
import { Config } from "./schema.ts";
import { readPemFiles } from "./pem_files.ts";
import { ConfigError, type ConfigProblem, EmptyConfigError } from "./config_error.ts";
import { describeIssue } from "./describe_issue.ts";
import { type EnvLookup, interpolate } from "./interpolate.ts";
import { secretValues } from "./secret_values.ts";

type Document = ReturnType<typeof parseDocument>;
type PathKey = string | number;

function locate(file: string, lines: LineCounter, offset: number | undefined): string {
  if (offset === undefined) return file;
  const { line, col } = lines.linePos(offset);
  return `${file}:${line}:${col}`;
}

/** Offset of the deepest node that exists along a key path. */
function offsetOf(doc: Document, path: readonly PathKey[]): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth), true) as { range?: [number, number, number] };
    if (node?.range) return node.range[0];
  }
  return undefined;
}

/** The key path of a node from its ancestors (as `visit` gives them). */
function pathOf(ancestors: readonly unknown[], node: unknown): PathKey[] {
  const chain = [...ancestors, node];
  const path: PathKey[] = [];
  for (let i = 0; i < chain.length - 1; i++) {
    const parent = chain[i];
    const child = chain[i + 1];
    if (isPair(parent) && parent.value === child) {
      path.push(isScalar(parent.key) ? String(parent.key.value) : "?");
    } else if (isSeq(parent)) {
      path.push(parent.items.indexOf(child as never));
    }
  }
  return path;
}

/**
 * A `ConfigError` for `problems` in `text`, every secret value the text (or
 * its parsed `data`) holds masked: the YAML parser quotes the source.
 */
function maskedError(
  problems: readonly ConfigProblem[],
  text: string,
  data?: unknown,
): ConfigError {
  const secrets = secretValues(text, data);
  return new ConfigError(
    problems.map((problem) => ({ ...problem, message: maskSecrets(problem.message, secrets) })),
  );
}

/** Offset of a key itself (for unknown keys). */
function keyOffset(doc: Document, path: readonly PathKey[], key: string): number | undefined {
  const parent = path.length === 0 ? doc.contents : doc.getIn(path, true);
  if (isMap(parent)) {
    for (const pair of parent.items) {
      if (isScalar(pair.key) && pair.key.value === key) return pair.key.range?.[0];
    }
  }
  return offsetOf(doc, path);
}

function problemsOf(
  error: z.ZodError,
  doc: Document,
  raw: unknown,
  file: string,
  lines: LineCounter,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of error.issues) {
    const path = issue.path as PathKey[];
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        problems.push({
          location: locate(file, lines, keyOffset(doc, path, key)),
          path: [...path, key].join("."),
          message: "unknown key (check the spelling against config.yaml in the repository)",
        });
      }
      continue;
    }
    let value: unknown = raw;
    for (const key of path) value = (value as Record<PathKey, unknown> | undefined)?.[key];
    problems.push({
      location: locate(file, lines, offsetOf(doc, path)),
      path: path.join("."),
      message: describeIssue(issue, value),
    });
  }
  return problems;
}

/**
 * Parses and validates configuration text. Text that holds no settings
 * (empty, blanks, comments only) is refused rather than read as every
 * default: it is what a save in progress leaves behind; `{}` is every default.
 *
 * @param file name used in messages, e.g. `config.yaml`
 * @throws {EmptyConfigError} when the text holds no settings
 * @throws {ConfigError} listing every problem found
 */
export function parseConfig(text: string, file: string, env: EnvLookup): Config {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  // The parser's messages quote the source, secrets included.
  const secrets = () => secretValues(text);
  if (doc.errors.length > 0) {
    throw maskedError(
      doc.errors.map((e) => ({
        location: locate(file, lines, e.pos[0]),
        path: "",
        message: `YAML syntax error: ${
          maskSecretPieces(e.message.split("\n")[0] ?? "", secrets())
        }`,
      })),
      text,
    );
  }
  const problems: ConfigProblem[] = [];
  visit(doc, {
    Scalar(key, node, ancestors) {
      if (key === "key" || typeof node.value !== "string" || !node.value.includes("${")) return;
      const path = pathOf(ancestors, node);
      const result = interpolate(node.value, env, isSecretPath(path));
      if (result.ok) {
        node.value = result.value;
      } else {
        problems.push({
          location: locate(file, lines, node.range?.[0]),
          path: path.join("."),
          message: result.error,
        });
      }
    },
  });
  if (problems.length > 0) throw maskedError(problems, text);
  let raw: unknown;
  try {
    // Unresolved aliases and alias bombs surface only when the document is resolved.
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw maskedError([{
      location: locate(file, lines, undefined),
      path: "",
      message: `YAML error: ${
        maskSecretPieces(error instanceof Error ? error.message : String(error), secrets())
      }`,
    }], text);
  }
  if (raw === null || raw === undefined) throw new EmptyConfigError(file);
  const result = Config.safeParse(raw);
  if (!result.success) {
    throw maskedError(problemsOf(result.error, doc, raw, file, lines), text, raw);
  }
  return result.data;
}

/**
 * Reads a configuration file's text.
 *
 * @throws {ConfigError} when the file cannot be read
 */
export async function readConfigText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "file not found (pass --config PATH)"
      : `cannot read: ${(error as Error).message}`;
    throw new ConfigError([{ location: path, path: "", message: reason }]);
  }
}

/**
 * Validates the text read from `path` and completes it: a relative
 * `state_dir` or `logging.file.path` is resolved against the current
 * directory, as permissions need absolute paths, and PEM files are read.
 *
 * @throws {ConfigError} when the text is invalid or a PEM file cannot be read
 */
export async function configFromText(text: string, path: string, env: EnvLookup): Promise<Config> {
  const config = parseConfig(text, path, env);
  const { file } = config.logging;
  try {
    return await readPemFiles({
      ...config,
      state_dir: resolve(config.state_dir),
      logging: file === undefined ? config.logging : {
        ...config.logging,
        file: { ...file, path: resolve(file.path) },
      },
    }, path);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw maskedError(error.problems, text, config);
  }
}

/**
 * Reads and validates a configuration file (see {@link configFromText}).
 *
 * @throws {ConfigError} when the file cannot be read or is invalid
 */
export async function loadConfig(path: string, env: EnvLookup): Promise<Config> {
  return configFromText(await readConfigText(path), path, env);
}
