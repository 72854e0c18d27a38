/**
 * The log file (`logging.file`), written by its own worker that may write
 * only the log file and its rotated copies. Every isolate formats its lines
 * as for stdout and hands them over: the main thread directly, the other
 * workers through the supervisor, so lines keep their order per isolate and
 * none are lost at shutdown.
 *
 * @module
 */
import { dirname } from "node:path";
import type { LogFileConfig } from "../config/schema.ts";
import { NO_PERMISSIONS } from "../runtime/no_permissions.ts";
import { rotatedPaths } from "./rotation.ts";

/** Main thread → log file worker. */
export type ToLogFile =
  | { readonly type: "open"; readonly file: LogFileConfig }
  | { readonly type: "write"; readonly text: string }
  /** Write what has arrived, close the file and report `closed`. */
  | { readonly type: "close" };

/** Log file worker → main thread. */
export type FromLogFile =
  | { readonly type: "opened" }
  | { readonly type: "failed"; readonly error: string }
  | { readonly type: "closed" };

/** The log file could not be opened; the message names the key and the reason. */
export class LogFileError extends Error {
  override readonly name = "LogFileError";
}

/** The log file worker module, also listed for `deno compile --include`. */
export const LOG_FILE_WORKER = new URL("./worker.ts", import.meta.url);

/**
 * The log file worker's permissions: reading and writing the log file and its
 * rotated copies (rotation renames them), nothing else.
 */
export function logFilePermissions(file: LogFileConfig): Deno.PermissionOptionsObject {
  const paths = [file.path, ...rotatedPaths(file.path, file.keep)];
  return { ...NO_PERMISSIONS, net: false, read: paths, write: paths };
}

/** How long `close` waits for the worker before terminating it. */
const CLOSE_TIMEOUT_MS = 2000;

/** The main thread's handle on the log file worker. */
export class LogFile {
  readonly #worker: Worker;

  private constructor(worker: Worker) {
    this.#worker = worker;
  }

  /**
   * Creates the log file's directory and starts the worker that writes it.
   *
   * @throws {LogFileError} when the directory or the file cannot be created
   */
  static async start(file: LogFileConfig): Promise<LogFile> {
    const problem = (reason: string) =>
      new LogFileError(`logging.file.path ${file.path}: ${reason}`);
    try {
      await Deno.mkdir(dirname(file.path), { recursive: true });
    } catch (error) {
      throw problem(`cannot create its directory: ${(error as Error).message}`);
    }
    const worker = new Worker(LOG_FILE_WORKER, {
      type: "module",
      name: "log_file",
      deno: { permissions: logFilePermissions(file) },
    });
    const opened = await new Promise<FromLogFile>((resolve) => {
      worker.onmessage = (event: MessageEvent<FromLogFile>) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        resolve({ type: "failed", error: event.message });
      };
      worker.postMessage({ type: "open", file } satisfies ToLogFile);
    });
    if (opened.type !== "opened") {
      worker.terminate();
      throw problem(opened.type === "failed" ? opened.error : "the log file worker did not start");
    }
    return new LogFile(worker);
  }

  /** Appends formatted lines. */
  write(text: string): void {
    this.#worker.postMessage({ type: "write", text } satisfies ToLogFile);
  }

  /** Writes every line handed over so far, closes the file and ends the worker. */
  async close(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      new Promise<void>((resolve) => {
        this.#worker.onmessage = (event: MessageEvent<FromLogFile>) => {
          if (event.data.type === "closed") resolve();
        };
        this.#worker.postMessage({ type: "close" } satisfies ToLogFile);
      }),
      new Promise<void>((resolve) => timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)),
    ]);
    clearTimeout(timer);
    this.#worker.terminate();
  }
}
