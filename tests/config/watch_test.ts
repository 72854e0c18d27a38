/**
 * Live reload of `config.yaml` on a real file in a temporary directory: valid
 * changes are handed over once, unchanged or invalid ones are not, and
 * nothing is reported after the watcher is stopped.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { EnvLookup } from "../../src/config/interpolate.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { watchConfig } from "../../src/config/watch.ts";
import { captureLogs } from "../helpers/log_capture.ts";
import { sleep, until } from "../helpers/wait.ts";

const noEnv: EnvLookup = () => undefined;

/** Long enough for the watcher to settle (300 ms) and reload, with margin. */
const QUIET_MS = 1_000;

function configText(seconds: number | string, minutes: number | string = 1): string {
  return `internal_broker: { url: "mqtt://127.0.0.1:11883" }
meters:
  timezone: Europe/Vienna
  upload_interval_seconds: ${seconds}
  upload_interval_minutes: ${minutes}
`;
}

/** A config.yaml in a fresh directory, watched from its loaded configuration. */
async function watched(initial: string, env: EnvLookup = noEnv) {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-watch-" });
  const path = join(dir, "config.yaml");
  await Deno.writeTextFile(path, initial);
  const current = await loadConfig(path, env);
  const changes: Config[] = [];
  const watch = watchConfig(path, current, env, (config) => changes.push(config));
  let stopped = false;
  const stopOnce = () => {
    if (stopped) return;
    stopped = true;
    watch.stop();
  };
  return {
    watch,
    dir,
    path,
    current,
    changes,
    stop: stopOnce,
    async [Symbol.asyncDispose]() {
      try {
        stopOnce();
        // let a reload that may already be reading the file finish
        await sleep(50);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  };
}

Deno.test("a valid change to config.yaml is reported once with the new configuration", async () => {
  await using w = await watched(configText(60));
  assert.equal(w.current.meters.upload_interval_seconds, 60);

  await Deno.writeTextFile(w.path, configText(300));
  await until(() => w.changes.length > 0, "onChange", 3_000);
  await sleep(QUIET_MS);

  assert.equal(w.changes.length, 1);
  const [next] = w.changes;
  assert.equal(next.meters.upload_interval_seconds, 300);
  assert.equal(next.meters.upload_interval_minutes, 1);
  assert.equal(next.meters.timezone, "Europe/Vienna");
  assert.deepEqual(next, await loadConfig(w.path, noEnv));
});

Deno.test("rewriting config.yaml with the same content does not report a change", async () => {
  await using w = await watched(configText(60));

  await Deno.writeTextFile(w.path, configText(60));
  await sleep(QUIET_MS);
  assert.equal(w.changes.length, 0);

  // Different text, same configuration: still nothing to hand over.
  await Deno.writeTextFile(w.path, `# edited\n${configText(60)}`);
  await sleep(QUIET_MS);
  assert.equal(w.changes.length, 0);
});

Deno.test("replacing config.yaml by renaming a new file over it is seen", async () => {
  await using w = await watched(configText(60));

  const temp = join(w.dir, ".config.yaml.tmp");
  await Deno.writeTextFile(temp, configText(600, 5));
  await Deno.rename(temp, w.path);
  await until(() => w.changes.length > 0, "onChange after rename", 3_000);
  await sleep(QUIET_MS);

  assert.equal(w.changes.length, 1);
  assert.equal(w.changes[0].meters.upload_interval_seconds, 600);
  assert.equal(w.changes[0].meters.upload_interval_minutes, 5);
});

Deno.test("changes to other files in the directory are not reported", async () => {
  await using w = await watched(configText(60));

  await Deno.writeTextFile(join(w.dir, "other.yaml"), configText(300));
  await Deno.writeTextFile(join(w.dir, "config.yaml.bak"), configText(300));
  await sleep(QUIET_MS);

  assert.equal(w.changes.length, 0);
});

Deno.test("an invalid change is rejected with the error logged and the running configuration stays in force", async () => {
  await using logs = await captureLogs();
  await using w = await watched(configText(60));

  await Deno.writeTextFile(w.path, configText(45));
  await until(
    () => logs.lines.some((l) => l.category === "kpm33b.config" && l.level === "error"),
    "the rejection to be logged",
    3_000,
  );
  await sleep(QUIET_MS);
  assert.equal(w.changes.length, 0);
  const rejection = logs.lines.find((l) => l.category === "kpm33b.config" && l.level === "error")!;
  const problems = String(rejection.properties.problems);
  assert.match(problems, /meters\.upload_interval_seconds/);
  assert.match(problems, /45/);
  assert.ok(problems.includes(w.path), problems);

  // Going back to the running configuration is not a change.
  await Deno.writeTextFile(w.path, configText(60));
  await sleep(QUIET_MS);
  assert.equal(w.changes.length, 0);

  // A following valid change is applied.
  await Deno.writeTextFile(w.path, configText(300));
  await until(() => w.changes.length > 0, "onChange after the valid change", 3_000);
  await sleep(QUIET_MS);
  assert.equal(w.changes.length, 1);
  assert.equal(w.changes[0].meters.upload_interval_seconds, 300);
});

Deno.test("broken YAML and a removed file are rejected, and the next valid file is applied", async () => {
  await using w = await watched(configText(60));

  await Deno.writeTextFile(w.path, "meters: { upload_interval_seconds: 300\n");
  await sleep(QUIET_MS);
  assert.equal(w.changes.length, 0);

  await Deno.remove(w.path);
  await sleep(QUIET_MS);
  assert.equal(w.changes.length, 0);

  await Deno.writeTextFile(w.path, configText(900));
  await until(() => w.changes.length > 0, "onChange after the file came back", 3_000);
  await sleep(QUIET_MS);
  assert.equal(w.changes.length, 1);
  assert.equal(w.changes[0].meters.upload_interval_seconds, 900);
});

Deno.test("reloads interpolate environment variables through the given lookup", async () => {
  const vars = new Map([["SECS", "300"], ["MINS", "15"]]);
  const env: EnvLookup = (name) => vars.get(name);
  await using w = await watched(configText("${SECS}"), env);
  assert.equal(w.current.meters.upload_interval_seconds, 300);

  await Deno.writeTextFile(w.path, configText("${SECS}", "${MINS}"));
  await until(() => w.changes.length > 0, "onChange", 3_000);
  await sleep(QUIET_MS);

  assert.equal(w.changes.length, 1);
  assert.equal(w.changes[0].meters.upload_interval_seconds, 300);
  assert.equal(w.changes[0].meters.upload_interval_minutes, 15);
});

Deno.test("after the watcher is stopped changes are no longer reported", async () => {
  await using w = await watched(configText(60));

  await Deno.writeTextFile(w.path, configText(300));
  await until(() => w.changes.length > 0, "onChange before stopping", 3_000);
  await sleep(QUIET_MS);
  assert.equal(w.changes.length, 1);

  w.stop();
  await Deno.writeTextFile(w.path, configText(600));
  await sleep(QUIET_MS);
  const temp = join(w.dir, ".config.yaml.tmp");
  await Deno.writeTextFile(temp, configText(1200));
  await Deno.rename(temp, w.path);
  await sleep(QUIET_MS);

  assert.equal(w.changes.length, 1);
  assert.equal(w.changes[0].meters.upload_interval_seconds, 300);
});

Deno.test("a change still settling when the watcher is stopped is not reported", async () => {
  await using w = await watched(configText(60));

  await Deno.writeTextFile(w.path, configText(300));
  await sleep(50); // the event has arrived; the reload waits for quiet
  w.stop();
  await sleep(QUIET_MS);

  assert.equal(w.changes.length, 0);
});

Deno.test("reload on request applies a changed file and reports changed, unchanged or invalid", async () => {
  await using w = await watched(configText(60));
  await Deno.writeTextFile(w.path, configText(300));

  assert.deepEqual(await w.watch.reload(), { ok: true, data: { changed: true } });
  assert.equal(w.changes.at(-1)?.meters.upload_interval_seconds, 300);
  assert.deepEqual(await w.watch.reload(), { ok: true, data: { changed: false } });

  await Deno.writeTextFile(w.path, configText(45));
  const invalid = await w.watch.reload();
  assert.equal(invalid.ok, false);
  assert.match(!invalid.ok ? invalid.error : "", /upload_interval_seconds.*45 is not one of/);
  assert.equal(w.changes.at(-1)?.meters.upload_interval_seconds, 300);
});
