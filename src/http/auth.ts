/**
 * The optional `http.auth_token`: a request carries it as a bearer token
 * (`Authorization: Bearer <token>`, for Prometheus and scripts) or as the
 * password of HTTP Basic with any user name (so browsers prompt for it).
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";

/** Sent with 401 so that browsers ask for the token as a password. */
export const CHALLENGE = 'Basic realm="kpm33b-bridge"';

const encoder = new TextEncoder();

/**
 * Compares in constant time: hashing first gives both sides the same length,
 * so neither the token's length nor its first differing byte shows in timing.
 */
function sameSecret(offered: Uint8Array, token: string): boolean {
  const digest = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest();
  return timingSafeEqual(digest(offered), digest(encoder.encode(token)));
}

/** The password of a Basic `credentials` (base64 of `user:password`), as bytes. */
function basicPassword(credentials: string): Uint8Array | undefined {
  let decoded: string;
  try {
    decoded = atob(credentials);
  } catch {
    return undefined;
  }
  const bytes = Uint8Array.from(decoded, (char) => char.charCodeAt(0));
  const colon = bytes.indexOf(0x3a);
  return colon < 0 ? undefined : bytes.subarray(colon + 1);
}

/** Whether an `Authorization` header value carries `token`. */
export function authorized(header: string | undefined, token: string): boolean {
  if (header === undefined) return false;
  const match = /^\s*(bearer|basic)\s+(\S+)\s*$/i.exec(header);
  if (match === null) return false;
  const [, scheme, credentials] = match;
  if (scheme === undefined || credentials === undefined) return false;
  const offered = scheme.toLowerCase() === "bearer"
    ? encoder.encode(credentials)
    : basicPassword(credentials);
  return offered !== undefined && sameSecret(offered, token);
}
