/**
 * The secret values a configuration holds (see `isSecretKey`), so that error
 * messages about it can mask them even where a message quotes the file: a
 * YAML parser's error, a value a check repeats.
 *
 * @module
 */
import { isSecretKey } from "./redact.ts";

/** Every scalar in a value, as text. */
function scalarsOf(value: unknown): string[] {
  if (value === null || value === undefined) return [];
  if (typeof value !== "object") return [String(value)];
  return Object.values(value).flatMap(scalarsOf);
}

/** The values under secret keys in parsed (and interpolated) YAML. */
function fromData(data: unknown): string[] {
  if (data === null || typeof data !== "object") return [];
  return Object.entries(data).flatMap(([key, value]) =>
    isSecretKey(key) ? scalarsOf(value) : fromData(value)
  );
}

/** `key:` at the start of a line, after `- ` or inside a flow map, quoted or not. */
const KEY = /(?:^|[\s{,])(["']?)([^\s"'{},:#[\]]+)\1\s*:(?=\s|$)/g;

/** `${NAME}` and `${NAME:-default}`: the name is no secret, a default may be. */
const REFERENCE = /\$\{[A-Za-z_][A-Za-z0-9_]*(?::-([^}]*))?\}/g;

function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}

/** A block scalar's header (`|`, `>-`, …): syntax, not part of the value. */
const BLOCK_HEADER = /^[|>][-+0-9]*$/;

/** A value's text on its key's line, without quotes or a trailing comment. */
function valueText(rest: string): string {
  const text = rest.trim();
  const quoted = text.match(/^"((?:[^"\\]|\\.)*)/) ?? text.match(/^'((?:[^']|'')*)/);
  if (quoted) return quoted[1] ?? "";
  const value = text.replace(/\s#.*$/, "");
  return BLOCK_HEADER.test(value) ? "" : value;
}

/**
 * The values under secret keys as the text writes them, line by line: found
 * even in text that is not valid YAML. A value continued on more indented
 * lines (a block scalar, a quote left open) takes those lines too.
 */
function fromText(text: string): string[] {
  const lines = text.split(/\r?\n/);
  const values: string[] = [];
  for (const [i, line] of lines.entries()) {
    if (line.trimStart().startsWith("#")) continue;
    for (const match of line.matchAll(KEY)) {
      const [whole, , key] = match;
      if (key === undefined || !isSecretKey(key)) continue;
      values.push(valueText(line.slice(match.index + whole.length)));
      const indent = indentOf(line);
      for (const next of lines.slice(i + 1)) {
        if (next.trim() !== "" && indentOf(next) <= indent) break;
        values.push(next.trim());
      }
    }
  }
  return values.map((value) =>
    value.replace(REFERENCE, (_, fallback = "") => ` ${fallback} `).trim()
  )
    .filter((value) => value !== "");
}

/**
 * The secret values of a configuration file: as its text writes them and,
 * once parsed and interpolated (`data`), as they are used.
 */
export function secretValues(text: string, data?: unknown): string[] {
  return [...new Set([...fromText(text), ...fromData(data)])];
}
