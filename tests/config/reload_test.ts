import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import {
  applicable,
  RELOAD_POLICY,
  reloadPolicy,
  restartOnlyChanges,
} from "../../src/config/reload.ts";

const config = (yaml: string) => parseConfig(yaml, "config.yaml", () => undefined);
const BASE =
  "http: { port: 8080 }\ntopics: { root: kpm33b }\nmeters: { upload_interval_seconds: 60 }\n";

Deno.test("every top-level key of the configuration has a reload policy", () => {
  for (const key of Object.keys(config("{}"))) {
    assert.ok(Object.hasOwn(RELOAD_POLICY, key), `${key} has no entry in RELOAD_POLICY`);
  }
});

Deno.test("a path follows its nearest listed parent; unlisted top-level keys are live", () => {
  assert.equal(reloadPolicy("http.port"), "restart");
  assert.equal(reloadPolicy("http.auth_token"), "live");
  assert.equal(reloadPolicy("topics.root"), "restart");
  assert.equal(reloadPolicy("outbox.max_entries"), "restart");
  assert.equal(reloadPolicy("meters.timezone"), "live");
  assert.equal(reloadPolicy("limits.max_meters"), "live");
  assert.equal(reloadPolicy("limits.max_payload_bytes"), "restart");
});

Deno.test("a new topic root or outbox waits for a restart: reported, and the old values kept", () => {
  const running = config(BASE);
  const next = config(
    BASE.replace("root: kpm33b", "root: site2").replace("seconds: 60", "seconds: 300") +
      "outbox: { max_entries: 1000 }\n",
  );
  assert.deepEqual(restartOnlyChanges(running, next), ["topics", "outbox"]);
  const applied = applicable(running, next);
  assert.equal(applied.topics.root, "kpm33b");
  assert.equal(applied.outbox.max_entries, running.outbox.max_entries);
  assert.equal(applied.meters.upload_interval_seconds, 300, "the live part is applied");
});

Deno.test("a new http.auth_token is applied at once; a new port waits, keeping the new token", () => {
  const running = config(BASE);
  const token = config(BASE.replace("port: 8080", 'port: 8080, auth_token: "s3cret-token"'));
  assert.deepEqual(restartOnlyChanges(running, token), []);
  assert.equal(applicable(running, token).http.auth_token, "s3cret-token");

  const moved = config(BASE.replace("port: 8080", 'port: 9090, auth_token: "other-token"'));
  assert.deepEqual(restartOnlyChanges(running, moved), ["http"]);
  const applied = applicable(running, moved);
  assert.equal(applied.http.port, 8080);
  assert.equal(applied.http.auth_token, "other-token");
});

Deno.test("limits are live but the meters' broker's payload limit", () => {
  const running = config(BASE);
  const next = config(BASE + "limits: { max_meters: 50, max_payload_bytes: 1024 }\n");
  assert.deepEqual(restartOnlyChanges(running, next), ["limits.max_payload_bytes"]);
  const applied = applicable(running, next);
  assert.equal(applied.limits.max_meters, 50);
  assert.equal(applied.limits.max_payload_bytes, running.limits.max_payload_bytes);
});

Deno.test("an unchanged file reports nothing and applies to the same configuration", () => {
  const running = config(BASE);
  assert.deepEqual(restartOnlyChanges(running, config(BASE)), []);
  assert.deepEqual(applicable(running, config(BASE)), running);
});

Deno.test("every list of restart-only keys in the docs is the policy's", async () => {
  const restart = Object.entries(RELOAD_POLICY).filter(([, p]) => p === "restart").map(([k]) => k)
    .sort();
  const live = Object.entries(RELOAD_POLICY).filter(([k, p]) =>
    p === "live" && k.includes(".") && reloadPolicy(k.split(".")[0] ?? "") === "restart"
  ).map(([k]) => k).sort();
  const root = new URL("../../", import.meta.url);
  const files = [
    "README.md",
    ...[...Deno.readDirSync(new URL("docs/", root))]
      .filter((e) => e.name.endsWith(".md")).map((e) => `docs/${e.name}`),
  ];
  let lists = 0;
  for (const file of files) {
    const text = (await Deno.readTextFile(new URL(file, root))).replace(/\s+/g, " ");
    for (
      const [list, keyList = ""] of text.matchAll(
        /(?:Keys that need a restart \(|Changes to )((?:`[a-z_.]+`[^`]*?)+)(?:\) are|take effect at the next restart)/g,
      )
    ) {
      lists++;
      const named = [...keyList.matchAll(/`([a-z_.]+)`/g)].map(([, key = ""]) => key);
      const exceptions = named.filter((key) => live.includes(key)).sort();
      const keys = named.filter((key) => !live.includes(key)).sort();
      assert.deepEqual(keys, restart, `${file}: ${list}`);
      assert.deepEqual(exceptions, live, `${file}: ${list}`);
    }
  }
  assert.ok(lists > 0, "no list of restart-only keys found in README.md or docs/");
});
