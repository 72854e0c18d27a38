/**
 * Log rate limiting: a flood of bad messages must not flood the journal.
 * Each key may log a burst of lines per window; the rest are counted and
 * reported with the next line that gets through.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";

/** Decides whether a log line for a key may be written now. */
export class LogRateLimiter {
  readonly #windows = new Map<string, { start: number; lines: number; suppressed: number }>();

  /**
   * @param burst lines allowed per key and window
   * @param windowMs window length in milliseconds
   */
  constructor(readonly burst: number, readonly windowMs: number) {}

  /**
   * @returns `undefined` when the line must be suppressed, otherwise the
   * number of lines suppressed for this key since the last one written
   */
  admit(key: string, now: number): number | undefined {
    let window = this.#windows.get(key);
    if (window === undefined || now - window.start >= this.windowMs) {
      const suppressed = window?.suppressed ?? 0;
      window = { start: now, lines: 0, suppressed: 0 };
      this.#windows.set(key, window);
      window.lines++;
      return suppressed;
    }
    if (window.lines >= this.burst) {
      window.suppressed++;
      return undefined;
    }
    window.lines++;
    const suppressed = window.suppressed;
    window.suppressed = 0;
    return suppressed;
  }
}

/** Logs a warning unless its key is over the limit; the next line tells how many were not. */
export type WarnLimited = (
  key: string,
  message: string,
  properties: Record<string, unknown>,
) => void;

/** Warnings to `log`, rate limited per key by `limiter` at the time `now()` tells. */
export function warnLimited(
  log: Logger,
  limiter: LogRateLimiter,
  now: () => number,
): WarnLimited {
  return (key, message, properties) => {
    const suppressed = limiter.admit(key, now());
    if (suppressed === undefined) return;
    log.warn(suppressed > 0 ? `${message} ({suppressed} similar lines suppressed)` : message, {
      ...properties,
      suppressed,
    });
  };
}
