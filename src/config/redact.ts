/**
 * Redaction of secrets before anything is logged or reported: which keys
 * hold secrets, and masking of their values in text.
 *
 * @module
 */

/** What a secret value is replaced with. */
export const MASK = "***";

/**
 * Key names whose values are secret: passwords, passphrases, tokens, secrets,
 * credentials and key material (`key`, `private_key`, not `key_file`, which
 * names a file).
 */
const SECRET_KEY = /pass(word|phrase|wd)|secret|token|credential|private|(^|[_-])key$/i;

/** Whether a configuration key's value is a secret (e.g. `password`, `tls.key`). */
export function isSecretKey(name: string): boolean {
  return SECRET_KEY.test(name);
}

/** Whether a key path leads to or into a secret, e.g. `meter_auth.accounts.<id>.password`. */
export function isSecretPath(path: readonly PropertyKey[]): boolean {
  return path.some((key) => typeof key === "string" && isSecretKey(key));
}

/** Secrets this short are masked only as whole words, not inside other text. */
const MIN_LENGTH = 3;

function nonEmpty(secrets: Iterable<string>): string[] {
  return [...new Set(secrets)].filter((value) => value.trim() !== "");
}

/** Masks each word of `text` that `isSecret` says is one. */
function maskWords(text: string, isSecret: (word: string) => boolean): string {
  return text.replace(/\S+/g, (word) => {
    const core = word.replace(/^["'([{<]+|["')\]}>,;:.]+$/g, "");
    return core !== "" && core !== MASK && isSecret(core) ? word.replace(core, MASK) : word;
  });
}

/** Masks every secret value that `text` repeats. */
export function maskSecrets(text: string, secrets: Iterable<string>): string {
  const values = nonEmpty(secrets);
  let masked = text;
  for (const value of values.toSorted((a, b) => b.length - a.length)) {
    if (value.length >= MIN_LENGTH) masked = masked.replaceAll(value, MASK);
  }
  return maskWords(masked, (word) => values.includes(word));
}

/** YAML's indicators around a word of a value: `*alias`, `&anchor`, `!tag`, `|`, quotes. */
const INDICATORS = /^[*&!|>@%`"'[\]{},-]+|["'[\]{},]+$/g;

/**
 * Masks secret values and also the pieces of them that a parser's message
 * quotes: any word of a value (without YAML's indicators), and any part of
 * one that holds more than letters and digits (`\q` of an escape).
 */
export function maskSecretPieces(text: string, secrets: Iterable<string>): string {
  const values = nonEmpty(secrets);
  const words = new Set(
    values.flatMap((value) => value.split(/\s+/)).flatMap((word) => [
      word,
      word.replace(INDICATORS, ""),
    ]),
  );
  return maskWords(maskSecrets(text, values), (word) =>
    words.has(word) ||
    (/[^\p{L}\p{N}]/u.test(word) && values.some((value) => value.includes(word))));
}

/** A broker URL without user info, e.g. for "connecting to …" lines. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === "" && parsed.password === "") return url;
    parsed.username = "";
    parsed.password = "";
    return parsed.toString();
  } catch {
    return "<invalid url>";
  }
}

/**
 * Text meant as a URL, valid or not, with everything between its first `//`
 * (or its start) and its last `@` replaced by `<credentials>`, for messages
 * about a bad URL.
 */
export function redactUrlText(text: string): string {
  return text.replace(/^([^@]*?\/\/)?.*@/s, "$1<credentials>@");
}
