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
 * @param secret the text is a secret's (a password): the error does not quote it
 * @returns the new string, or an error message naming the first problem
 */
export function interpolate(
  text: string,
  env: EnvLookup,
  secret = false,
): { ok: true; value: string } | { ok: false; error: string } {
  let error: string | undefined;
  const value = text.replace(REFERENCE, (match, name?: string, fallback?: string) => {
    if (match === "$${") return "${";
    if (name === undefined) {
      error ??= secret
        ? "holds a ${ that starts no valid reference; use ${NAME} or ${NAME:-default}, " +
          "or $${ for a literal ${ (value not shown: it is a secret)"
        : `${JSON.stringify(match)} is not a valid reference; use \${NAME} or \${NAME:-default}`;
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
