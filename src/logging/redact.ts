/**
 * Redaction of secrets before anything is logged.
 *
 * @module
 */

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
