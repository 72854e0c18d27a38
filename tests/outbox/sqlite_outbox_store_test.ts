import assert from "node:assert/strict";
import { OutboxStoreError, SqliteOutboxStore } from "../../src/outbox/sqlite_outbox_store.ts";
import { outboxStoreContract } from "./outbox_store_contract.ts";

let path = "";
outboxStoreContract("SqliteOutboxStore", {
  async open() {
    path = `${await Deno.makeTempDir({ prefix: "kpm33b-outbox-" })}/outbox.sqlite`;
    return new SqliteOutboxStore(path);
  },
  reopen: () => new SqliteOutboxStore(path),
});

Deno.test("SqliteOutboxStore: a second bridge on the same state_dir is refused with a clear message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-outbox-" });
  const store = new SqliteOutboxStore(`${dir}/outbox.sqlite`);
  try {
    // Another process holds the file: a child Deno opens it while this one has it locked.
    const child = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { SqliteOutboxStore } from "${
          new URL("../../src/outbox/sqlite_outbox_store.ts", import.meta.url).href
        }";
        try { new SqliteOutboxStore("${dir}/outbox.sqlite"); console.log("opened"); }
        catch (e) { console.log(e.name + ": " + e.message); }`,
      ],
    }).output();
    const said = new TextDecoder().decode(child.stdout).trim();
    assert.equal(
      said,
      `OutboxStoreError: ${dir}/outbox.sqlite is in use by another bridge process; ` +
        "each bridge needs its own state_dir",
    );
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteOutboxStore: an unusable path names the file and the reason", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-outbox-" });
  try {
    assert.throws(
      () => new SqliteOutboxStore(`${dir}/missing/outbox.sqlite`),
      (error: Error) =>
        error instanceof OutboxStoreError &&
        error.message.startsWith(`cannot open the outbox ${dir}/missing/outbox.sqlite: `),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
