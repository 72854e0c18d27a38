/** Running a program that must succeed, with its output in the failure message. */

import assert from "node:assert/strict";

/** Where and with which environment a program runs. */
export interface RunOptions {
  readonly cwd?: string;
  /** Added to the inherited environment unless `clearEnv` is set. */
  readonly env?: Record<string, string>;
  readonly clearEnv?: boolean;
}

/**
 * Runs `program` to completion and asserts it exited 0; returns stdout followed by
 * stderr so callers can check what it printed.
 */
export async function runOk(
  program: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(program, {
    args: [...args],
    cwd: options.cwd,
    env: options.env,
    clearEnv: options.clearEnv,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  const output = decoder.decode(stdout) + decoder.decode(stderr);
  assert.equal(code, 0, `${program} ${args.join(" ")} failed:\n${output}`);
  return output;
}
