import assert from "node:assert/strict";
import { Config } from "../../src/config/schema.ts";
import { MemoryOutboxStore } from "../../src/outbox/memory_outbox_store.ts";
import { openOutboxStore } from "../../src/outbox/open_outbox_store.ts";
import { SqliteOutboxStore } from "../../src/outbox/sqlite_outbox_store.ts";

Deno.test("openOutboxStore: SQLite in state_dir (created if missing), or memory when disabled", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-open-outbox-" });
  try {
    const stateDir = `${dir}/not/yet/there`;
    const durable = openOutboxStore(Config.parse({ state_dir: stateDir }));
    assert.ok(durable instanceof SqliteOutboxStore);
    assert.equal(durable.path, `${stateDir}/outbox.sqlite`);
    durable.close();
    const memory = openOutboxStore(
      Config.parse({ state_dir: `${dir}/unused`, outbox: { enabled: false } }),
    );
    assert.ok(memory instanceof MemoryOutboxStore);
    await assert.rejects(Deno.stat(`${dir}/unused`), Deno.errors.NotFound, "nothing is written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
