/**
 * A full disk: SQLite rolls the transaction back by itself; the store reports
 * the cause with what to do, and its counters stay right. Needs root (it
 * mounts a 200 KB tmpfs); reported as ignored otherwise.
 */
import assert from "node:assert/strict";
import { OutboxStoreError, SqliteOutboxStore } from "../../src/outbox/sqlite_outbox_store.ts";

function run(cmd: string, ...args: string[]): void {
  const { success, stderr } = new Deno.Command(cmd, { args, stderr: "piped" }).outputSync();
  if (!success) throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
}

/** `id -u` rather than Deno.uid(), which would need --allow-sys. */
function isRoot(): boolean {
  const { stdout } = new Deno.Command("id", { args: ["-u"] }).outputSync();
  return new TextDecoder().decode(stdout).trim() === "0";
}

Deno.test({
  name: "SqliteOutboxStore: a full disk is reported with what to do, and size() stays right",
  ignore: !isRoot(),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "kpm33b-full-" });
    run("mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", dir);
    try {
      const store = new SqliteOutboxStore(`${dir}/outbox.sqlite`);
      const payload = "x".repeat(4000);
      let error: unknown;
      try {
        for (let i = 0; i < 1000; i++) {
          store.write({
            append: Array.from({ length: 10 }, () => ({ topic: "t", payload, retain: false })),
            remove: [],
            meterStates: new Map(),
            now: 0,
          });
        }
      } catch (e) {
        error = e;
      }
      const counted = store.size().entries;
      const stored = store.read(0, 1_000_000).length;
      store.close();
      assert.equal(counted, stored);
      assert.ok(error instanceof OutboxStoreError, String(error));
      assert.match(
        error.message,
        /^writing the outbox .*outbox\.sqlite failed: .*full.*; free space on the disk of state_dir, or lower outbox\.max_megabytes$/,
      );
    } finally {
      run("umount", dir);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
