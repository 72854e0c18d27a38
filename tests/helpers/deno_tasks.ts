/** The tasks of deno.json, for tests that check other ways of running the bridge against them. */
import assert from "node:assert/strict";

/** `tasks` of deno.json. */
export const TASKS: Readonly<Record<string, string>> = JSON.parse(
  Deno.readTextFileSync(new URL("../../deno.json", import.meta.url)),
).tasks;

/** `deno task start`'s flags, between `deno run` and the entry module `main.ts`. */
export function startFlags(): string[] {
  const start = TASKS.start;
  assert.ok(start !== undefined, "deno.json has a start task");
  const [deno, subcommand, ...words] = start.split(/\s+/);
  assert.deepEqual([deno, subcommand], ["deno", "run"], `tasks.start: ${TASKS.start}`);
  assert.equal(words.pop(), "main.ts", `tasks.start: ${TASKS.start}`);
  return words;
}
