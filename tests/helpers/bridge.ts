/**
 * The real bridge as a subprocess: `deno task start --config <temp file>`, or
 * another way of starting it (a compiled binary, an emulated runtime).
 */

/** A running bridge process. */
export interface BridgeProcess extends AsyncDisposable {
  readonly pid: number;
  /** The bridge's own pid (from its first log line, else the runner's child), once it runs. */
  bridgePid(): number | undefined;
  /** The configuration file the bridge runs with (watched for changes). */
  readonly configPath: string;
  /** Everything the bridge wrote to stdout and stderr so far. */
  output(): string;
  /** Parsed JSON log lines (the tests configure `logging.format: json`). */
  logLines(): Record<string, unknown>[];
  /** Waits until a log line satisfies `predicate`. */
  waitForLog(
    predicate: (line: Record<string, unknown>) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** Sends a signal and waits for exit; returns exit code and elapsed milliseconds. */
  stop(signal?: Deno.Signal): Promise<{ code: number; elapsedMs: number }>;
}

const PROJECT = new URL("../../", import.meta.url);

/** How the bridge is started: `--config <file>` is appended to `args`. */
export interface BridgeCommand {
  readonly program: string;
  readonly args: readonly string[];
  /** Working directory; the project's by default. */
  readonly cwd?: string;
  /** Environment variables beside the caller's. */
  readonly env?: Readonly<Record<string, string>>;
}

/** `deno task start`, as README documents it. */
export const TASK_START: BridgeCommand = {
  program: Deno.execPath(),
  args: ["task", "--quiet", "start"],
};

/** What a run of the bridge's command line printed, and its exit code. */
export interface CommandRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `deno task start` with `args` (`--check-config`, …) and `env` beside the caller's, run to its exit. */
export async function runTaskStart(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<CommandRun> {
  const { code, stdout, stderr } = await new Deno.Command(TASK_START.program, {
    args: [...TASK_START.args, ...args],
    cwd: PROJECT.pathname,
    env: { NO_COLOR: "1", ...env },
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

function kill(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch {
    // already exited
  }
}

/**
 * Writes `configYaml` to a temp file and starts the bridge with it. Unless the
 * YAML sets `state_dir`, the state lives in the temp directory too; unless it
 * has an `http` section, the HTTP endpoint is off (tests run bridges side by
 * side, and port 8080 may be taken).
 */
export async function startBridge(
  configYaml: string,
  env: Record<string, string> = {},
  command: BridgeCommand = TASK_START,
): Promise<BridgeProcess> {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-bridge-" });
  const configPath = `${dir}/config.yaml`;
  const stateDir = /^state_dir:/m.test(configYaml) ? "" : `\nstate_dir: ${dir}/state\n`;
  const http = /^http:/m.test(configYaml) ? "" : "\nhttp: { enabled: false }\n";
  await Deno.writeTextFile(configPath, configYaml + stateDir + http);
  const child = new Deno.Command(command.program, {
    args: [...command.args, "--config", configPath],
    cwd: command.cwd ?? PROJECT.pathname,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...command.env, ...env },
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  const drained = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const logLines = () =>
    text.split("\n").flatMap((line) => {
      if (!line.startsWith("{")) return [];
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  // The bridge logs its own pid at start; `child.pid` is the `deno task` runner.
  const bridgePid = () => {
    const line = logLines().find((l) => typeof l.pid === "number");
    if (line !== undefined) return line.pid as number;
    // Text logs: "… starting with <file> (pid 1234)".
    const match = text.match(/starting with .* \(pid (\d+)\)/);
    if (match) return Number(match[1]);
    // Quiet log levels do not log the pid: the bridge is the runner's child.
    const { stdout } = new Deno.Command("pgrep", { args: ["-P", String(child.pid)] })
      .outputSync();
    const pid = Number(new TextDecoder().decode(stdout).split("\n")[0]);
    return pid > 0 ? pid : undefined;
  };
  let exit: Promise<{ code: number; elapsedMs: number }> | undefined;
  const stop = (signal: Deno.Signal = "SIGTERM") =>
    exit ??= (async () => {
      const started = performance.now();
      // `deno task` forwards SIGTERM/SIGINT to the bridge; SIGKILL must reach it directly.
      const family = [bridgePid(), child.pid].filter((pid) => pid !== undefined);
      if (signal === "SIGKILL") family.forEach((pid) => kill(pid, signal));
      else kill(child.pid, signal);
      const killer = setTimeout(() => family.forEach((pid) => kill(pid, "SIGKILL")), 10_000);
      const status = await child.status;
      const elapsedMs = performance.now() - started;
      clearTimeout(killer);
      await drained;
      await Deno.remove(dir, { recursive: true });
      return { code: status.code, elapsedMs };
    })();
  return {
    pid: child.pid,
    bridgePid,
    configPath,
    output: () => text,
    logLines,
    async waitForLog(predicate, what, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (true) {
        const found = logLines().find(predicate);
        if (found) return found;
        if (Date.now() > deadline) {
          throw new Error(`timed out waiting for ${what}; output:\n${text}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop("SIGKILL");
    },
  };
}

/** The bridge's warnings and errors (JSON log lines), for failure messages. */
export function complaints(bridge: BridgeProcess, limit = 40): string {
  const lines = bridge.logLines().filter((l) => l.level !== "INFO" && l.level !== "DEBUG");
  return lines.slice(0, limit).map((l) => `${l.level} ${l.message}`).join("\n") +
    (lines.length > limit ? `\n… ${lines.length - limit} more` : "");
}

/** Entries in the outbox as the bridge's latest stats line says. */
export function outboxEntries(bridge: BridgeProcess): number {
  const stats = bridge.logLines().findLast((l) => String(l.message).startsWith("Stats:"))?.stats as
    | { outbox?: { entries?: number } }
    | undefined;
  return stats?.outbox?.entries ?? 0;
}
