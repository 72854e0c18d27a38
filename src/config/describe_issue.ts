/**
 * The message for one validation problem of `config.yaml`: what is wrong and
 * what is allowed, with the bad value where it helps, but never a secret.
 *
 * @module
 */
import type { z } from "zod";
import { isSecretPath } from "./redact.ts";

/** Types whose value may be shown when another one was given instead. */
const SCALAR_TYPES = new Set(["string", "number", "int", "boolean", "bigint", "literal"]);

const NOT_SHOWN = "(value not shown: it is a secret)";

function isScalar(value: unknown): value is string | number | boolean | null {
  return value === null || ["string", "number", "boolean"].includes(typeof value);
}

/** What was given, for a type mismatch: "a list", "a map", "a number", … */
function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a map";
  return typeof value === "number" ? "a number" : typeof value;
}

/** The scalars in a value, to tell whether a message repeats any of them. */
function scalarsOf(value: unknown): string[] {
  if (isScalar(value)) return value === null || value === "" ? [] : [String(value)];
  if (typeof value !== "object") return [];
  return Object.values(value as object).flatMap(scalarsOf);
}

/**
 * A message for a value under a secret key: the issue's own text when it
 * does not repeat the value (zod's do not; a schema's own might), else one
 * made from the issue's code alone.
 */
function describeSecret(issue: z.core.$ZodIssue, value: unknown): string {
  const repeats = scalarsOf(value).some((scalar) => issue.message.includes(scalar));
  if (!repeats) return `${issue.message} ${NOT_SHOWN}`;
  switch (issue.code) {
    case "invalid_type":
      return `expected ${issue.expected}, got ${kindOf(value)} ${NOT_SHOWN}`;
    case "too_small":
      return `is too short or too small (at least ${issue.minimum}) ${NOT_SHOWN}`;
    case "too_big":
      return `is too long or too big (at most ${issue.maximum}) ${NOT_SHOWN}`;
    default:
      return `is not valid ${NOT_SHOWN}`;
  }
}

/**
 * Describes a validation issue of the value `value` (undefined when the key
 * is missing). Values under a secret key (see `isSecretPath`) are never
 * shown, and neither are maps and lists, which may hold secrets, nor the
 * entry of a record whose key is invalid.
 */
export function describeIssue(issue: z.core.$ZodIssue, value: unknown): string {
  if (issue.code === "invalid_type" && value === undefined) return "is required";
  if (issue.code === "invalid_key") {
    // The key is in the path; the entry under it may be a meter account with its password.
    return `invalid key: ${issue.issues.map((inner) => inner.message).join("; ")}`;
  }
  if (isSecretPath(issue.path)) return describeSecret(issue, value);
  if (issue.code === "invalid_value" && "values" in issue) {
    const given = isScalar(value) ? JSON.stringify(value) : kindOf(value);
    return `${given} is not one of ${issue.values.join(", ")}`;
  }
  if (issue.code === "custom" || issue.code === "invalid_format") return issue.message;
  const shown = isScalar(value) &&
    (issue.code !== "invalid_type" || SCALAR_TYPES.has(issue.expected));
  return shown ? `${issue.message} (got ${JSON.stringify(value)})` : issue.message;
}
