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

Deno.test("writes passwd (600) and acl (644) into a new directory", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dir = `${root}/etc/kpm33b/mosquitto`;
    const written = await writeMosquittoAuth(CONFIG, dir);
    assert.deepEqual(written, {
      passwdPath: `${dir}/passwd`,
      aclPath: `${dir}/acl`,
      warnings: [],
    });
    assert.equal((await Deno.stat(written.passwdPath)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(written.aclPath)).mode! & 0o777, 0o644);
    const users = (await Deno.readTextFile(written.passwdPath)).trim().split("\n")
      .filter((line) => !line.startsWith("#")).map((line) => line.split(":")[0]);
    assert.deepEqual(users, ["bridge", "meter"]);
    assert.match(await Deno.readTextFile(written.aclPath), /^topic read MQTT_SET_25950027$/m);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("rewriting narrows a password file that had become world-readable", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/passwd`, "old\n");
    await Deno.chmod(`${dir}/passwd`, 0o644);
    await writeMosquittoAuth(CONFIG, dir);
    assert.equal((await Deno.stat(`${dir}/passwd`)).mode! & 0o777, 0o600);
    assert.doesNotMatch(await Deno.readTextFile(`${dir}/passwd`), /^old$/m);
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
