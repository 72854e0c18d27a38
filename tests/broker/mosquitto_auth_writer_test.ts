import assert from "node:assert/strict";
import { writeMosquittoAuth } from "../../src/broker/mosquitto_auth_writer.ts";
import { MosquittoFilesError } from "../../src/broker/mosquitto_files.ts";
import { Config } from "../../src/config/schema.ts";

const CONFIG = Config.parse({
  internal_broker: {
    url: "mqtt://127.0.0.1:1",
    username: "bridge",
    password: "pw",
    meter_auth: { password: "meter-pw" },
  },
  meters: { names: { "33B1225950027": "Main" } },
});

Deno.test("writes dynamic-security.json (600) into a new directory", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dir = `${root}/etc/kpm33b/mosquitto`;
    const written = await writeMosquittoAuth(CONFIG, dir);
    assert.deepEqual(written, { path: `${dir}/dynamic-security.json`, warnings: [] });
    assert.equal((await Deno.stat(written.path)).mode! & 0o777, 0o600);
    const dynsec = JSON.parse(await Deno.readTextFile(written.path));
    assert.deepEqual(dynsec.clients.map((c: { username: string }) => c.username), [
      "bridge",
      "meter",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("rewriting narrows a file that had become world-readable", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/dynamic-security.json`;
  try {
    await Deno.writeTextFile(path, "old\n");
    await Deno.chmod(path, 0o644);
    await writeMosquittoAuth(CONFIG, dir);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.doesNotMatch(await Deno.readTextFile(path), /^old$/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a warning names the password file and ACL an earlier version wrote", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/passwd`, "old\n");
    await Deno.writeTextFile(`${dir}/acl`, "old\n");
    const written = await writeMosquittoAuth(CONFIG, dir);
    assert.deepEqual(written.warnings, [
      `${dir}/passwd and ${dir}/acl no longer change with config.yaml: Mosquitto reads ` +
      `${dir}/dynamic-security.json through its dynamic security plugin; replace ` +
      "password_file and acl_file in your Mosquitto configuration with the plugin lines of " +
      "mosquitto/internal.conf, then delete these files",
    ]);
    assert.equal(await Deno.readTextFile(`${dir}/passwd`), "old\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a configuration without the bridge's account writes nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bare = Config.parse({ internal_broker: { url: "mqtt://127.0.0.1:1" } });
    await assert.rejects(writeMosquittoAuth(bare, `${dir}/out`), MosquittoFilesError);
    await assert.rejects(Deno.stat(`${dir}/out`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
