/**
 * Logging: text lines to stdout (journald-friendly) or JSON lines, one
 * category per module under `kpm33b`. Each worker isolate configures its own.
 *
 * @module
 */
import {
  configure,
  dispose,
  getJsonLinesFormatter,
  getLogger,
  getStreamSink,
  getTextFormatter,
  type Logger,
  type LogRecord,
  type TextFormatter,
} from "@logtape/logtape";
import type { LoggingConfig } from "../config/schema.ts";

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Renders a value for a text log line: one line always (journald keeps one
 * entry per line), and control characters can never forge a new line.
 */
function renderValue(value: unknown, inspect: (value: unknown) => string): string {
  if (typeof value === "string") return CONTROL.test(value) ? JSON.stringify(value) : value;
  if (typeof value === "object" && value !== null && !(value instanceof Error)) {
    try {
      return JSON.stringify(value);
    } catch {
      // not serialisable (e.g. a cycle): fall back to inspect
    }
  }
  return inspect(value).replaceAll("\n", " ");
}

const jsonLines = getJsonLinesFormatter({
  categorySeparator: ".",
  message: "rendered",
  properties: "flatten",
});

/** Keys of every JSON line; a property of the same name is written as `<key>_`. */
const RECORD_KEYS = ["@timestamp", "level", "message", "logger"];

/**
 * One JSON object per line. The message is rendered as in text lines (a
 * string value appears as itself, not quoted); the values stay available as
 * properties of their own, except that a property named like a key of the
 * line (e.g. a reading's `level`) is renamed: it must not replace the
 * line's own level.
 */
export const formatJsonLine: TextFormatter = (record: LogRecord) => {
  const message = record.message
    .map((part, i) => i % 2 === 0 ? String(part) : renderValue(part, Deno.inspect))
    .join("");
  let properties = record.properties;
  if (RECORD_KEYS.some((key) => key in properties)) {
    properties = Object.fromEntries(
      Object.entries(properties).map(([key, value]) => [
        RECORD_KEYS.includes(key) ? `${key}_` : key,
        value,
      ]),
    );
  }
  return jsonLines({ ...record, message: [message], properties });
};

/**
 * Configures logging for this isolate: to stdout and, when `toFile` is given,
 * the same lines to it (for the log file, `logging.file`).
 */
export async function setupLogging(
  options: Pick<LoggingConfig, "level" | "format">,
  toFile?: (text: string) => void,
): Promise<void> {
  const formatter = options.format === "json" ? formatJsonLine : getTextFormatter({
    timestamp: "date-time-timezone",
    category: ".",
    level: "ABBR",
    value: renderValue,
  });
  const sinks = toFile === undefined ? ["stdout"] : ["stdout", "file"];
  await configure({
    reset: true,
    sinks: {
      stdout: getStreamSink(Deno.stdout.writable, { formatter }),
      ...(toFile === undefined ? {} : { file: (record: LogRecord) => toFile(formatter(record)) }),
    },
    loggers: [
      { category: ["kpm33b"], lowestLevel: options.level, sinks },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks },
    ],
  });
}

/** Flushes and closes the log sinks. */
export async function closeLogging(): Promise<void> {
  await dispose();
}

/** The logger of one module, e.g. `logger("proxy")` → category `kpm33b.proxy`. */
export function logger(...category: string[]): Logger {
  return getLogger(["kpm33b", ...category]);
}
