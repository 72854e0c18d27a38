/**
 * Live reload of `config.yaml` on a real file in a temporary directory: valid
 * changes are handed over once; unchanged, invalid, empty and half-written
 * ones are not; nothing is reported after the watcher is stopped. The watcher
 * runs on scaled-down timings unless a test's claim depends on the defaults.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { EnvLookup } from "../../src/config/interpolate.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { MAX_SETTLE_READS, READ_SETTLE_MS } from "../../src/config/settled_read.ts";
import { QUIET_MS, watchConfig, type WatchOptions } from "../../src/config/watch.ts";
import { logger } from "../../src/logging/setup.ts";
import { captureLogs } from "../helpers/log_capture.ts";
import { sleep, until } from "../helpers/wait.ts";

const noEnv: EnvLookup = () => undefined;

/** The watcher's timings scaled down, so that showing that nothing more happens is quick. */
const FAST: WatchOptions = { quietMs: 30, settleMs: 30, maxReads: MAX_SETTLE_READS };

/**
 * Several times as long as the watcher at {@link FAST} takes to wait for quiet, read twice and
 * reload, which leaves a margin for late file system events: waiting this long proves that no
 * (further) change is reported.
 */
const NOTHING_MORE_MS = 5 * (FAST.quietMs + FAST.settleMs);

function configText(seconds: number | string, minutes: number | string = 1): string {
  return `internal_broker: { url: "mqtt://127.0.0.1:11883" }
meters:
  timezone: Europe/Vienna
  upload_interval_seconds: ${seconds}
  upload_interval_minutes: ${minutes}
`;
}

/** A config.yaml in a fresh directory, watched from its loaded configuration. */
async function watched(initial: string, env: EnvLookup = noEnv, options: WatchOptions = FAST) {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-watch-" });
  const path = join(dir, "config.yaml");
  await Deno.writeTextFile(path, initial);
  const current = await loadConfig(path, env);
  const changes: Config[] = [];
  const watch = watchConfig(
    path,
    current,
    env,
    (config) => changes.push(config),
    logger("config"),
    options,
  );
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
  await sleep(NOTHING_MORE_MS);

  assert.equal(w.changes.length, 1);
  const [next] = w.changes;
  assert.ok(next !== undefined);
  assert.equal(next.meters.upload_interval_seconds, 300);
  assert.equal(next.meters.upload_interval_minutes, 1);
  assert.equal(next.meters.timezone, "Europe/Vienna");
  assert.deepEqual(next, await loadConfig(w.path, noEnv));
});

Deno.test("rewriting config.yaml with the same content does not report a change", async () => {
  await using w = await watched(configText(60));

  await Deno.writeTextFile(w.path, configText(60));
  await sleep(NOTHING_MORE_MS);
  assert.equal(w.changes.length, 0);

  // Different text, same configuration: still nothing to hand over.
  await Deno.writeTextFile(w.path, `# edited\n${configText(60)}`);
  await sleep(NOTHING_MORE_MS);
  assert.equal(w.changes.length, 0);
});

Deno.test("replacing config.yaml by renaming a new file over it is seen", async () => {
  await using w = await watched(configText(60));

  const temp = join(w.dir, ".config.yaml.tmp");
  await Deno.writeTextFile(temp, configText(600, 5));
  await Deno.rename(temp, w.path);
  await until(() => w.changes.length > 0, "onChange after rename", 3_000);
  await sleep(NOTHING_MORE_MS);

  assert.equal(w.changes.length, 1);
  assert.equal(w.changes[0]?.meters.upload_interval_seconds, 600);
  assert.equal(w.changes[0]?.meters.upload_interval_minutes, 5);
});

Deno.test("changes to other files in the directory are not reported", async () => {
  await using w = await watched(configText(60));

  await Deno.writeTextFile(join(w.dir, "other.yaml"), configText(300));
  await Deno.writeTextFile(join(w.dir, "config.yaml.bak"), configText(300));
  await sleep(NOTHING_MORE_MS);

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
  await sleep(NOTHING_MORE_MS);
  assert.equal(w.changes.length, 0);
  const rejection = logs.lines.find((l) => l.category === "kpm33b.config" && l.level === "error")!;
  const problems = String(rejection.properties.problems);
  assert.match(problems, /meters\.upload_interval_seconds/);
  assert.match(problems, /45/);
  assert.ok(problems.includes(w.path), problems);

  // Going back to the running configuration is not a change.
  await Deno.writeTextFile(w.path, configText(60));
  await sleep(NOTHING_MORE_MS);
  assert.equal(w.changes.length, 0);

  // A following valid change is applied.
  await Deno.writeTextFile(w.path, configText(300));
  await until(() => w.changes.length > 0, "onChange after the valid change", 3_000);
  await sleep(NOTHING_MORE_MS);
  assert.equal(w.changes.length, 1);
  assert.equal(w.changes[0]?.meters.upload_interval_seconds, 300);
});

Deno.test("broken YAML and a removed file are rejected, and the next valid file is applied", async () => {
  await using w = await watched(configText(60));

  await Deno.writeTextFile(w.path, "meters: { upload_interval_seconds: 300\n");
  await sleep(NOTHING_MORE_MS);
  assert.equal(w.changes.length, 0);

  await Deno.remove(w.path);
  await sleep(NOTHING_MORE_MS);
  assert.equal(w.changes.length, 0);

  await Deno.writeTextFile(w.path, configText(900));
  await until(() => w.changes.length > 0, "onChange after the file came back", 3_000);
  await sleep(NOTHING_MORE_MS);
  assert.equal(w.changes.length, 1);
  assert.equal(w.changes[0]?.meters.upload_interval_seconds, 900);
});

Deno.test("reloads interpolate environment variables through the given lookup", async () => {
  const vars = new Map([["SECS", "300"], ["MINS", "15"]]);
  const env: EnvLookup = (name) => vars.get(name);
  await using w = await watched(configText("${SECS}"), env);
  assert.equal(w.current.meters.upload_interval_seconds, 300);

  await Deno.writeTextFile(w.path, configText("${SECS}", "${MINS}"));
  await until(() => w.changes.length > 0, "onChange", 3_000);
  await sleep(NOTHING_MORE_MS);

  assert.equal(w.changes.length, 1);
  assert.equal(w.changes[0]?.meters.upload_interval_seconds, 300);
  assert.equal(w.changes[0]?.meters.upload_interval_minutes, 15);
});

Deno.test("after the watcher is stopped changes are no longer reported", async () => {
  await using w = await watched(configText(60));

  await Deno.writeTextFile(w.path, configText(300));
  await until(() => w.changes.length > 0, "onChange before stopping", 3_000);
  await sleep(NOTHING_MORE_MS);
  assert.equal(w.changes.length, 1);

  w.stop();
  await Deno.writeTextFile(w.path, configText(600));
  await sleep(NOTHING_MORE_MS);
  const temp = join(w.dir, ".config.yaml.tmp");
  await Deno.writeTextFile(temp, configText(1200));
  await Deno.rename(temp, w.path);
  await sleep(NOTHING_MORE_MS);

  assert.equal(w.changes.length, 1);
  assert.equal(w.changes[0]?.meters.upload_interval_seconds, 300);
});

Deno.test("a change still settling when the watcher is stopped is not reported", async () => {
  // The default wait for quiet, so that the stop surely falls into it.
  const options = { ...FAST, quietMs: QUIET_MS };
  await using w = await watched(configText(60), noEnv, options);

  await Deno.writeTextFile(w.path, configText(300));
  await sleep(50); // the event has arrived; the reload waits for quiet
  w.stop();
  await sleep(options.quietMs + NOTHING_MORE_MS);

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

const EXCLUDED = "33B1225950027";

/** The configuration of {@link configText} with one meter excluded, and its first half. */
function withExclusion(seconds: number): { whole: string; firstHalf: string; secondHalf: string } {
  const firstHalf = configText(seconds);
  const secondHalf = `  exclude: ["${EXCLUDED}"]\n`;
  return { whole: firstHalf + secondHalf, firstHalf, secondHalf };
}

/** The error lines the watcher logged. */
function rejections(logs: { lines: { level: string; category: string }[] }) {
  return logs.lines.filter((l) => l.category === "kpm33b.config" && l.level === "error");
}

Deno.test("config.yaml truncated to 0 bytes is refused naming the file; the running configuration stays; the next valid save is applied", async () => {
  await using logs = await captureLogs();
  await using w = await watched(withExclusion(60).whole);
  assert.deepEqual(w.current.meters.exclude, [EXCLUDED]);

  await Deno.truncate(w.path, 0);
  await until(() => rejections(logs).length > 0, "the refusal to be logged", 5_000);
  await sleep(NOTHING_MORE_MS);
  assert.equal(w.changes.length, 0, "an empty file is not applied as every default");
  const [refusal] = rejections(logs) as unknown as {
    message: string;
    properties: Record<string, unknown>;
  }[];
  assert.ok(refusal !== undefined);
  assert.equal(refusal.properties.path, w.path);
  assert.match(refusal.message, /is empty; the running configuration stays/);
  assert.match(refusal.message, /write \{\} into it/);

  await Deno.writeTextFile(w.path, withExclusion(300).whole);
  await until(() => w.changes.length > 0, "onChange after the valid save", 5_000);
  await sleep(NOTHING_MORE_MS);
  assert.equal(w.changes.length, 1);
  assert.equal(w.changes[0]?.meters.upload_interval_seconds, 300);
  assert.deepEqual(w.changes[0]?.meters.exclude, [EXCLUDED]);
});

Deno.test("a config.yaml of blanks only, or of comments only, is refused like an empty one", async () => {
  await using logs = await captureLogs();
  await using w = await watched(withExclusion(60).whole);

  await Deno.writeTextFile(w.path, "  \n\n\t\n");
  await until(() => rejections(logs).length > 0, "the refusal of blanks", 5_000);
  await Deno.writeTextFile(w.path, "# meters:\n#   exclude: []\n");
  await until(() => rejections(logs).length > 1, "the refusal of comments", 5_000);
  await sleep(NOTHING_MORE_MS);
  assert.equal(w.changes.length, 0);
  for (const line of rejections(logs) as unknown as { message: string }[]) {
    assert.match(line.message, /is empty; the running configuration stays/);
  }

  // On request too, with the file named in the answer.
  const answer = await w.watch.reload();
  assert.deepEqual(answer, {
    ok: false,
    error: `${w.path} is empty; the running configuration stays ` +
      "(write the configuration into it, or {} for every default)",
  });
  assert.equal(w.changes.length, 0);
});

Deno.test("a save written in two halves with a pause shorter than the settle: only the complete file is applied", async () => {
  // The pause outlasts the watcher's wait for quiet, so the first half is read; the second
  // read, one settle later, sees the whole file and the reads are repeated until they agree.
  const options = { quietMs: QUIET_MS, settleMs: 1000, maxReads: 5 };
  const pause = QUIET_MS + 300;
  assert.ok(pause < options.settleMs);
  await using w = await watched(configText(60), noEnv, options);
  const save = withExclusion(300);

  {
    using file = await Deno.open(w.path, { write: true, truncate: true });
    await file.write(new TextEncoder().encode(save.firstHalf));
    await sleep(pause);
    await file.write(new TextEncoder().encode(save.secondHalf));
  }
  await until(() => w.changes.length > 0, "onChange after the save", 10_000);
  // A reload of the second half's event, queued behind the one that applied, reads for a settle.
  await sleep(options.settleMs * 2);

  assert.equal(w.changes.length, 1, "the first half alone was never applied");
  assert.deepEqual(w.changes[0]?.meters.exclude, [EXCLUDED]);
  assert.equal(w.changes[0]?.meters.upload_interval_seconds, 300);
});

Deno.test("reload on request during a save in two halves waits for the complete file", async () => {
  // A settle longer than the default leaves room for a slow machine on either side of the pause.
  const options = { ...FAST, settleMs: 4 * READ_SETTLE_MS };
  await using w = await watched(configText(60), noEnv, options);
  const save = withExclusion(300);
  using file = await Deno.open(w.path, { write: true, truncate: true });
  await file.write(new TextEncoder().encode(save.firstHalf));

  const answer = w.watch.reload();
  await sleep(READ_SETTLE_MS);
  await file.write(new TextEncoder().encode(save.secondHalf));

  assert.deepEqual(await answer, { ok: true, data: { changed: true } });
  assert.deepEqual(w.changes.map((c) => c.meters.exclude), [[EXCLUDED]]);
  // The reloads of the save's events, queued behind the request, read for a settle each.
  await sleep(options.settleMs + NOTHING_MORE_MS);
  assert.equal(w.changes.length, 1);
});

Deno.test("a file that never stops changing is refused after a bounded number of reads", async () => {
  await using logs = await captureLogs();
  const options = { quietMs: QUIET_MS, settleMs: 100, maxReads: 3 };
  await using w = await watched(configText(60), noEnv, options);
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      await Deno.writeTextFile(w.path, `${configText(60)}# save ${i}\n`);
      await sleep(20);
    }
  })();
  try {
    const started = Date.now();
    const answer = await w.watch.reload();
    const elapsed = Date.now() - started;
    assert.deepEqual(answer, {
      ok: false,
      error: `${w.path} was still being written; the running configuration stays ` +
        "(reload again once the save is complete)",
    });
    assert.ok(elapsed < 2_000, `gave up after ${elapsed} ms`);
    const warning = logs.lines.find((l) => l.category === "kpm33b.config" && l.level === "warning");
    assert.match(
      String(warning?.properties.problem),
      /changed between each of 3 reads 100 ms apart/,
    );
  } finally {
    writing = false;
    await writer;
  }
  assert.equal(w.changes.length, 0);
});
