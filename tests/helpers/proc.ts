/**
 * A process's memory and liveness from /proc (Linux). Deno lets only
 * `--allow-all` read another process's /proc files, so `cat` reads them
 * (`--allow-run`, which the tests have anyway).
 */

/** Resident set size now and its peak, in kB. */
export interface Memory {
  readonly rssKb: number;
  readonly hwmKb: number;
}

async function status(pid: number): Promise<string | undefined> {
  const { code, stdout } = await new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stdout: "piped",
    stderr: "null",
  }).output();
  return code === 0 ? new TextDecoder().decode(stdout) : undefined;
}

function field(text: string, name: string): number {
  const match = text.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"));
  return match ? Number(match[1]) : NaN;
}

/** VmRSS and VmHWM of a running process; `undefined` once it is gone. */
export async function memoryOf(pid: number): Promise<Memory | undefined> {
  const text = await status(pid);
  if (text === undefined) return undefined;
  return { rssKb: field(text, "VmRSS"), hwmKb: field(text, "VmHWM") };
}

/** Whether the process exists and is not a zombie. */
export async function isRunning(pid: number): Promise<boolean> {
  const text = await status(pid);
  return text !== undefined && !/^State:\s+Z/m.test(text);
}

/** kB as MB with one decimal. */
export function mb(kb: number): string {
  return (kb / 1024).toFixed(1);
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on Linux everywhere). */
const TICKS_PER_SECOND = 100;

/** CPU seconds a process has used so far, user plus system, all threads; undefined once gone. */
export async function cpuSecondsOf(pid: number): Promise<number | undefined> {
  const { code, stdout } = await new Deno.Command("cat", {
    args: [`/proc/${pid}/stat`],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (code !== 0) return undefined;
  // The command name (field 2) is in parentheses and may hold spaces: count from after it.
  const text = new TextDecoder().decode(stdout);
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}
