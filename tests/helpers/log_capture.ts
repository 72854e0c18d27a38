/** Records the bridge's log lines in-process, for tests that run a service without a worker. */
import { configure, type LogRecord, reset } from "@logtape/logtape";

/** A captured log line. */
export interface CapturedLine {
  readonly level: LogRecord["level"];
  readonly category: string;
  readonly message: string;
  readonly properties: Record<string, unknown>;
}

/** Log lines captured since `captureLogs` was called. */
export interface LogCapture extends AsyncDisposable {
  readonly lines: CapturedLine[];
}

/** Sends every `kpm33b` log record to memory until disposed. */
export async function captureLogs(): Promise<LogCapture> {
  const lines: CapturedLine[] = [];
  await configure({
    reset: true,
    sinks: {
      memory: (record) =>
        lines.push({
          level: record.level,
          category: record.category.join("."),
          message: record.message.map((part) =>
            typeof part === "string" ? part : JSON.stringify(part)
          ).join(""),
          properties: record.properties,
        }),
    },
    loggers: [
      { category: ["kpm33b"], lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
    ],
  });
  return { lines, [Symbol.asyncDispose]: () => reset() };
}
