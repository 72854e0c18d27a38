/**
 * The shipped systemd units as data, and `systemd-analyze` run on them.
 * systemd itself need not be running: `verify --root` and
 * `security --offline` read unit files only.
 */

/** The directory holding the shipped units. */
export const UNIT_DIR = new URL("../../deploy/systemd/", import.meta.url).pathname;

/**
 * Every `Key=value` of a unit file, by key, in order (a key may repeat, as
 * `SystemCallFilter=` does). Comments and section headers are skipped; an
 * empty assignment (`ExecStart=`) resets the list, as systemd does.
 */
export function unitSettings(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";") || line.startsWith("[")) {
      continue;
    }
    const eq = line.indexOf("=");
    if (eq < 0) throw new Error(`not a setting: ${line}`);
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    settings.set(key, value === "" ? [] : [...(settings.get(key) ?? []), value]);
  }
  return settings;
}

/** Runs `systemd-analyze` with arguments; output is stdout and stderr together. */
export async function systemdAnalyze(
  args: string[],
): Promise<{ code: number; output: string }> {
  const { code, stdout, stderr } = await new Deno.Command("systemd-analyze", {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code, output: decoder.decode(stdout) + decoder.decode(stderr) };
}

/** The system calls of a `systemd-analyze syscall-filter` group, nested groups expanded. */
export async function syscallGroup(group: string): Promise<Set<string>> {
  const { code, output } = await systemdAnalyze(["syscall-filter", group]);
  if (code !== 0) throw new Error(`systemd-analyze syscall-filter ${group} failed:\n${output}`);
  const calls = new Set<string>();
  for (const line of output.split("\n").slice(1)) {
    const name = line.trim();
    if (name === "" || name.startsWith("#")) continue;
    if (name.startsWith("@")) {
      for (const call of await syscallGroup(name)) calls.add(call);
    } else {
      calls.add(name);
    }
  }
  return calls;
}

/**
 * The system calls a unit's `SystemCallFilter=` lines allow: allow lists are
 * joined, then every `~` deny list is taken away.
 */
export async function allowedSyscalls(filters: readonly string[]): Promise<Set<string>> {
  const allowed = new Set<string>();
  const denied = new Set<string>();
  for (const filter of filters) {
    const deny = filter.startsWith("~");
    for (const item of filter.replace(/^~/, "").split(/\s+/)) {
      const calls = item.startsWith("@") ? await syscallGroup(item) : new Set([item]);
      for (const call of calls) (deny ? denied : allowed).add(call);
    }
  }
  return new Set([...allowed].filter((call) => !denied.has(call)));
}
