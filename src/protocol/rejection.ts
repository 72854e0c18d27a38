/**
 * Why an uplink message was not accepted. Every rejection has a stable code
 * (for counters) and a reason a user can act on (for the log).
 *
 * @module
 */
import type { AdmissionCode } from "./admission.ts";
import type { ImplausibleCode } from "./plausibility.ts";

/** Stable codes of rejected messages, used as counter names. */
export type RejectionCode =
  | "unknown_topic"
  | "oversized"
  | "not_utf8"
  | "not_json"
  | "not_object"
  | "invalid_id"
  | "invalid_payload"
  | "no_measurements"
  | AdmissionCode
  | ImplausibleCode;

/** A message that was not accepted. */
export interface Rejection {
  readonly ok: false;
  readonly code: RejectionCode;
  /** Human-readable reason, safe to log: hostile text is quoted and truncated. */
  readonly reason: string;
}

const MAX_QUOTED = 40;

/**
 * Quotes an untrusted value for a log line: JSON-escaped (so control
 * characters cannot forge log lines) and truncated.
 */
export function quote(value: unknown): string {
  let text: string;
  try {
    text = value === undefined || (typeof value === "number" && !Number.isFinite(value))
      ? String(value)
      : JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}…(${text.length} chars)` : text;
}

/** Builds a rejection. */
export function reject(code: RejectionCode, reason: string): Rejection {
  return { ok: false, code, reason };
}
