/**
 * The compiled binary: `deno task compile` and `deno task compile:arm64` bake
 * in the flags of `deno task start` and pack every worker module (workers are
 * loaded by URL, so `deno compile` only embeds them when told with
 * `--include`).
 *
 * A compiled binary is a `denort` runtime with the program appended, and
 * `deno compile` downloads that runtime unless `DENORT_BIN` names one. The
 * packing test points `DENORT_BIN` at this Deno, which packs the same files
 * but does not make a runnable bridge; the smoke test runs the real binary and
 * exists only when `DENORT_BIN` is set. Without it, it is reported as not run
 * (and not counted).
 */
import assert from "node:assert/strict";
import { WORKER_MODULES } from "../../src/supervisor/workers.ts";
import { runOk } from "../helpers/command.ts";
import { startFlags, TASKS } from "../helpers/deno_tasks.ts";
import { smokeTest } from "../helpers/smoke.ts";

const PROJECT = new URL("../../", import.meta.url);

/** A compile task's command line, taken apart. */
interface CompileCommand {
  readonly flags: string[];
  readonly includes: string[];
  readonly target?: string;
  readonly output: string;
  readonly entry: string;
}

function parseCompileTask(name: string): CompileCommand {
  const task = TASKS[name];
  assert.ok(task !== undefined, `deno.json has a task ${name}`);
  const [deno, subcommand, ...words] = task.split(/\s+/);
  assert.deepEqual([deno, subcommand], ["deno", "compile"], `${name}: ${task}`);
  const flags: string[] = [];
  const includes: string[] = [];
  const options = new Map<string, string>();
  for (let i = 0; i < words.length - 1; i++) {
    const word = words[i]!;
    if (["--include", "--target", "--output"].includes(word)) {
      // Below the last word: a value follows.
      const value = words[++i]!;
      if (word === "--include") includes.push(value);
      else options.set(word, value);
    } else {
      flags.push(word);
    }
  }
  return {
    flags,
    includes,
    target: options.get("--target"),
    output: options.get("--output") ?? "",
    entry: words.at(-1) ?? "",
  };
}

const workerPaths = Object.values(WORKER_MODULES)
  .map((url) => url.pathname.slice(PROJECT.pathname.length)).sort();

/**
 * Runs a compile task's command with the output in `dir`; returns the
 * binary's path.
 */
async function compile(name: string, dir: string, denort: string): Promise<string> {
  const command = parseCompileTask(name);
  const output = `${dir}/${command.output.split("/").pop()}`;
  const args = [
    "compile",
    ...command.flags,
    ...command.includes.flatMap((path) => ["--include", path]),
    ...(command.target === undefined ? [] : ["--target", command.target]),
    "--output",
    output,
    command.entry,
  ];
  await runOk(Deno.execPath(), args, {
    cwd: PROJECT.pathname,
    env: { DENORT_BIN: denort, NO_COLOR: "1" },
  });
  return output;
}

Deno.test("compile and compile:arm64 bake in deno task start's flags and include every worker module", () => {
  const host = parseCompileTask("compile");
  const arm64 = parseCompileTask("compile:arm64");
  for (const command of [host, arm64]) {
    assert.deepEqual(command.flags, startFlags());
    assert.deepEqual([...command.includes].sort(), workerPaths);
    assert.equal(command.entry, "main.ts");
  }
  assert.equal(host.target, undefined);
  assert.equal(host.output, "dist/kpm33b-bridge");
  assert.equal(arm64.target, "aarch64-unknown-linux-gnu");
  assert.equal(arm64.output, "dist/kpm33b-bridge-aarch64");
});

Deno.test("deno compile packs the source of every worker module into the binary, for both targets", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-compile-" });
  try {
    for (const task of ["compile", "compile:arm64"]) {
      const binary = await compile(task, dir, Deno.execPath());
      // Byte for byte, as latin1 maps each byte to one character.
      const packed = new TextDecoder("latin1").decode(await Deno.readFile(binary));
      for (const path of workerPaths) {
        const source = await Deno.readFile(new URL(path, PROJECT));
        assert.ok(
          packed.includes(new TextDecoder("latin1").decode(source)),
          `${task}: ${path} is not in the binary (is it missing an --include?)`,
        );
      }
      await Deno.remove(binary);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const denort = Deno.env.get("DENORT_BIN");
if (denort === undefined) {
  console.log(
    "NOT RUN: the compiled binary's smoke test needs a denort runtime: deno compile downloads " +
      "it from dl.deno.land unless DENORT_BIN names one (the denort of this Deno version for " +
      "this machine). Set DENORT_BIN to run it.",
  );
} else {
  Deno.test("the binary of deno task compile bridges a simulated meter and exits 0 on SIGTERM", async () => {
    const dir = await Deno.makeTempDir({ prefix: "kpm33b-compile-" });
    try {
      const binary = await compile("compile", dir, denort);
      await smokeTest({ program: binary, args: [] });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
