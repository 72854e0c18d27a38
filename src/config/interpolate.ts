/**
 * `${VAR}` and `${VAR:-default}` in configuration values, so secrets and
 * ports can come from the environment. `$${` writes a literal `${`.
 *
 * @module
 */

/** Looks up an environment variable. */
export type EnvLookup = (name: string) => string | undefined;

const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?/g;

/**
 * Replaces variable references in a string.
 *
 * @returns the new string, or an error message naming the first problem
 */
export function interpolate(
  text: string,
  env: EnvLookup,
): { ok: true; value: string } | { ok: false; error: string } {
  let error: string | undefined;
  const value = text.replace(REFERENCE, (match, name?: string, fallback?: string) => {
    if (match === "$${") return "${";
    if (name === undefined) {
      error ??= `${
        JSON.stringify(match)
      } is not a valid reference; use \${NAME} or \${NAME:-default}`;
      return match;
    }
    const found = env(name);
    if (found !== undefined && found !== "") return found;
    if (fallback !== undefined) return fallback;
    error ??=
      `environment variable ${name} is not set (use \${${name}:-default} to give a default)`;
    return match;
  });
  return error === undefined ? { ok: true, value } : { ok: false, error };
}
