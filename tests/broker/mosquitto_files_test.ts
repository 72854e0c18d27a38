import assert from "node:assert/strict";
import {
  knownMeterIds,
  mosquittoFiles,
  MosquittoFilesError,
  mosquittoPasswordHash,
} from "../../src/broker/mosquitto_files.ts";
import { Config } from "../../src/config/schema.ts";
import { freePort, waitForPort } from "../helpers/ports.ts";

const A = "33B1225950027";
const B = "33B1225950028";
const C = "33B1225950029";

const HEADER = "# Generated from config.yaml by `deno task mosquitto:auth` " +
  "(or `kpm33b-bridge --write-mosquitto-auth`). Do not edit: " +
  "change config.yaml and run it again.\n";

const UPLINK_WRITES = [
  "topic write MQTT_RT_DATA",
  "topic write MQTT_ENY_NOW",
  "topic write MQTT_DAY_DATA",
  "topic write MQTT_TELEIND",
  "topic write MQTT_COMMOD_SET_REP",
  "topic write MQTT_COMMOD_READ_REP",
  "topic write MQTT_METER_TIME_REP",
  "topic write MQTT_TELECTRL_REP",
  "topic write MQTT_SYS_SET_REP",
  "topic write MQTT_SYS_REPLY",
  "topic write MQTT_RECONFIG_REPLY",
  "topic write MQTT_RECALL_REP",
];

/** The command topics of the meter whose id ends in `suffix`. */
function commandReads(suffix: string): string[] {
  return [
    `topic read MQTT_SET_${suffix}`,
    `topic read MQTT_SETTIME_${suffix}`,
    `topic read MQTT_TELECTRL_${suffix}`,
    `topic read MQTT_RECONFIG_${suffix}`,
    `topic read MQTT_COMMOD_SET_${suffix}`,
    `topic read MQTT_COMMOD_READ_${suffix}`,
    `topic read MQTT_SYS_CFG_${suffix}`,
    `topic read MQTT_SYS_READ_${suffix}`,
  ];
}

const BRIDGE_BLOCK = "# The bridge's own clients: everything.\nuser bridge\ntopic readwrite #";
const SHARED_COMMENT = "# Shared meter account: uplink topics, and the command topics of the " +
  "meters named in config.yaml without an account of their own (Mosquitto's ACL cannot say " +
  "'any meter'; bind accounts to ids to keep meters apart).";

function config(
  meterAuth: Record<string, unknown> = {},
  meters: Record<string, unknown> = {},
  bridge: Record<string, unknown> = { username: "bridge", password: "pw" },
): Config {
  return Config.parse({
    internal_broker: { url: "mqtt://127.0.0.1:1", ...bridge, meter_auth: meterAuth },
    meters,
  });
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** A `user:$7$101$salt$hash` line split into its parts. */
function parseLine(line: string) {
  const match = /^([^:]+):\$7\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(line);
  assert.ok(match, `not a $7$ password line: ${JSON.stringify(line)}`);
  return {
    username: match[1],
    iterations: Number(match[2]),
    salt: fromBase64(match[3]),
    hash: fromBase64(match[4]),
  };
}

/** Asserts that the passwd line of `username` is a hash of `password`. */
async function assertPasswordLine(line: string, username: string, password: string) {
  const parsed = parseLine(line);
  assert.equal(parsed.username, username);
  assert.equal(`${username}:${await mosquittoPasswordHash(password, parsed.salt)}`, line);
}

Deno.test("a hash with a fixed salt reproduces the line mosquitto_passwd writes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-passwd-" });
  try {
    const file = `${dir}/passwd`;
    const result = await new Deno.Command("mosquitto_passwd", {
      args: ["-b", "-c", file, "alice", "s3cret"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
    const line = (await Deno.readTextFile(file)).trim();
    const match = /^alice:(\$7\$101\$([A-Za-z0-9+/=]+)\$[A-Za-z0-9+/=]+)$/.exec(line);
    assert.ok(match, `unexpected mosquitto_passwd line: ${line}`);
    const salt = fromBase64(match[2]);
    assert.equal(salt.length, 12);
    assert.equal(await mosquittoPasswordHash("s3cret", salt), match[1]);
    assert.notEqual(await mosquittoPasswordHash("s3cres", salt), match[1]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a hash with a fixed salt is PBKDF2-SHA512 with 101 iterations", async () => {
  const salt = new Uint8Array(12).fill(7);
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode("pässword"),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const bits = new Uint8Array(
    await crypto.subtle.deriveBits(
      { name: "PBKDF2", hash: "SHA-512", salt, iterations: 101 },
      key,
      512,
    ),
  );
  const expected = `$7$101$BwcHBwcHBwcHBwcH$${btoa(String.fromCharCode(...bits))}`;
  assert.equal(await mosquittoPasswordHash("pässword", salt), expected);
});

Deno.test("a hash with a random salt has a 12-byte salt and a 64-byte hash", async () => {
  const first = parseLine(`u:${await mosquittoPasswordHash("s3cret")}`);
  const second = parseLine(`u:${await mosquittoPasswordHash("s3cret")}`);
  assert.equal(first.iterations, 101);
  assert.equal(first.salt.length, 12);
  assert.equal(first.hash.length, 64);
  assert.equal(second.salt.length, 12);
  assert.equal(second.hash.length, 64);
  assert.notDeepEqual(first.salt, second.salt);
  assert.notDeepEqual(first.hash, second.hash);
  assert.equal(
    `u:${await mosquittoPasswordHash("s3cret", first.salt)}`,
    `u:$7$101$${btoa(String.fromCharCode(...first.salt))}$${
      btoa(String.fromCharCode(...first.hash))
    }`,
  );
});

Deno.test("the password file has one line for the bridge, the shared account and each bound account", async () => {
  const files = await mosquittoFiles(config({
    username: "meter",
    password: "meter-secret",
    accounts: { [A]: { username: "panel-a", password: "a-secret" }, [B]: { password: "b-secret" } },
  }));
  assert.ok(files.passwd.endsWith("\n"));
  const lines = files.passwd.slice(0, -1).split("\n");
  assert.equal(lines.length, 4);
  await assertPasswordLine(lines[0], "bridge", "pw");
  await assertPasswordLine(lines[1], "meter", "meter-secret");
  await assertPasswordLine(lines[2], "panel-a", "a-secret");
  await assertPasswordLine(lines[3], B, "b-secret");
  assert.deepEqual(files.warnings, []);
});

Deno.test("the password file has no shared account without a meter password", async () => {
  const files = await mosquittoFiles(config({
    accounts: { [A]: { username: "panel-a", password: "a-secret" } },
  }));
  const lines = files.passwd.slice(0, -1).split("\n");
  assert.equal(lines.length, 2);
  await assertPasswordLine(lines[0], "bridge", "pw");
  await assertPasswordLine(lines[1], "panel-a", "a-secret");
  assert.deepEqual(files.warnings, []);
});

Deno.test("each password line gets its own salt", async () => {
  const files = await mosquittoFiles(config({
    password: "same",
    accounts: { [A]: { username: "panel-a", password: "same" } },
  }));
  const [, shared, bound] = files.passwd.slice(0, -1).split("\n").map(parseLine);
  assert.notDeepEqual(shared.salt, bound.salt);
  assert.notDeepEqual(shared.hash, bound.hash);
});

Deno.test("the ACL gives the bridge everything, the shared account every known unbound meter, a bound one its own", async () => {
  const files = await mosquittoFiles(config(
    {
      password: "meter-secret",
      accounts: { [A]: { username: "panel-a", password: "a-secret" } },
    },
    { names: { [B]: "Main Panel" } },
  ));
  const expected = [
    HEADER,
    BRIDGE_BLOCK,
    "",
    SHARED_COMMENT,
    "user meter",
    ...UPLINK_WRITES,
    ...commandReads("25950028"),
    "",
    `# Meter ${A}: its own command topics only.`,
    "user panel-a",
    ...UPLINK_WRITES,
    ...commandReads("25950027"),
  ].join("\n") + "\n";
  assert.equal(files.acl, expected);
});

Deno.test("the ACL of a bridge-only configuration is the header and the bridge", async () => {
  const files = await mosquittoFiles(config({}, { names: { [A]: "Main Panel" } }));
  assert.equal(files.acl, `${HEADER}\n${BRIDGE_BLOCK}\n`);
});

Deno.test("the shared account reads the command topics of meters in names and overrides, not of bound ones", async () => {
  const files = await mosquittoFiles(config(
    {
      username: "kpm",
      password: "meter-secret",
      accounts: { [C]: { password: "c-secret" } },
    },
    {
      names: { [B]: "Second", [A]: "First" },
      overrides: { [B]: { profile: "full" }, "ZZZZZ00000001": { profile: "full" } },
    },
  ));
  const shared = files.acl.split("\n\n")[2];
  assert.equal(
    shared,
    [
      SHARED_COMMENT,
      "user kpm",
      ...UPLINK_WRITES,
      ...commandReads("25950027"),
      ...commandReads("25950028"),
      ...commandReads("00000001"),
    ].join("\n"),
  );
  assert.doesNotMatch(shared, /25950029/);
  const bound = files.acl.split("\n\n")[3];
  assert.equal(
    bound,
    [
      `# Meter ${C}: its own command topics only.`,
      `user ${C}`,
      ...UPLINK_WRITES,
      ...commandReads("25950029"),
    ].join("\n") + "\n",
  );
});

Deno.test("the shared account reads no command topics of a meter whose last 8 characters a bound one has", async () => {
  // The topics carry only the last 8 characters: they are the bound meter's too.
  const files = await mosquittoFiles(config(
    { password: "meter-secret", accounts: { [A]: { password: "a-secret" } } },
    { names: { "44C1225950027": "Twin", [B]: "Other" } },
  ));
  const shared = files.acl.split("\n\n")[2];
  assert.equal(
    shared,
    [SHARED_COMMENT, "user meter", ...UPLINK_WRITES, ...commandReads("25950028")].join("\n"),
  );
});

Deno.test("the shared account reads no command topics when no meter is named", async () => {
  const files = await mosquittoFiles(config({ password: "meter-secret" }));
  assert.equal(
    files.acl,
    `${HEADER}\n${BRIDGE_BLOCK}\n\n${
      [SHARED_COMMENT, "user meter", ...UPLINK_WRITES].join("\n")
    }\n`,
  );
});

Deno.test("known meter ids come from names, overrides and accounts, sorted and without duplicates", () => {
  assert.deepEqual(
    knownMeterIds(config(
      { accounts: { [C]: { password: "c" }, [A]: { password: "a" } } },
      {
        names: { [B]: "b", [A]: "a", "ZZZZZ00000001": "z" },
        overrides: { [A]: { profile: "full" }, "00000ABCDEFGH": { profile: "full" } },
      },
    )),
    ["00000ABCDEFGH", A, B, C, "ZZZZZ00000001"],
  );
  assert.deepEqual(knownMeterIds(config()), []);
});

Deno.test("files cannot be made without the bridge's username or password", async () => {
  const message = "internal_broker.username and internal_broker.password must be set: they are " +
    "the bridge's own account on Mosquitto (use ${VAR} for the password)";
  for (
    const bridge of [{}, { username: "bridge" }, { password: "pw" }, {
      username: "bridge",
      password: "",
    }, { username: "", password: "pw" }]
  ) {
    await assert.rejects(
      mosquittoFiles(config({ password: "meter-secret" }, {}, bridge)),
      (error: unknown) => {
        assert.ok(error instanceof MosquittoFilesError);
        assert.equal(error.name, "MosquittoFilesError");
        assert.equal(error.message, message);
        return true;
      },
      JSON.stringify(bridge),
    );
  }
});

Deno.test("files cannot be made when a username is used twice", async () => {
  const cases: [Record<string, unknown>, Record<string, unknown>, string][] = [
    [{ username: "meter", password: "pw" }, { password: "m" }, "meter"],
    [{ username: "bridge", password: "pw" }, {
      accounts: { [A]: { username: "bridge", password: "a" } },
    }, "bridge"],
    [{ username: "bridge", password: "pw" }, {
      password: "m",
      accounts: { [A]: { username: "meter", password: "a" } },
    }, "meter"],
    [{ username: "bridge", password: "pw" }, {
      accounts: {
        [A]: { username: "panel", password: "a" },
        [B]: { username: "panel", password: "b" },
      },
    }, "panel"],
    [{ username: "bridge", password: "pw" }, {
      accounts: { [A]: { username: B, password: "a" }, [B]: { password: "b" } },
    }, B],
  ];
  for (const [bridge, meterAuth, duplicate] of cases) {
    await assert.rejects(
      mosquittoFiles(config(meterAuth, {}, bridge)),
      (error: unknown) => {
        assert.ok(error instanceof MosquittoFilesError);
        assert.equal(error.message, `username "${duplicate}" is used twice`);
        return true;
      },
      duplicate,
    );
  }
});

Deno.test("the shared username may equal the bridge's when there is no meter password", async () => {
  const files = await mosquittoFiles(config({ username: "bridge" }, {}, {
    username: "bridge",
    password: "pw",
  }));
  assert.equal(files.passwd.split("\n").length, 2);
});

Deno.test("a warning says no meter can log in without a meter password or accounts", async () => {
  const files = await mosquittoFiles(config());
  assert.deepEqual(files.warnings, [
    "no meter can log in: set internal_broker.meter_auth.password (KPM33B_METER_PASSWORD) " +
    "or add internal_broker.meter_auth.accounts",
  ]);
  const lines = files.passwd.slice(0, -1).split("\n");
  assert.equal(lines.length, 1);
  await assertPasswordLine(lines[0], "bridge", "pw");
});

Deno.test("there is no warning once a meter password or an account exists", async () => {
  assert.deepEqual((await mosquittoFiles(config({ password: "m" }))).warnings, []);
  assert.deepEqual(
    (await mosquittoFiles(config({ accounts: { [A]: { password: "a" } } }))).warnings,
    [],
  );
});

Deno.test("a warning says the embedded broker would compete with Mosquitto for the port", async () => {
  const files = await mosquittoFiles(
    config({ password: "m" }, {}, {
      username: "bridge",
      password: "pw",
      embedded: { enabled: true },
    }),
  );
  assert.deepEqual(files.warnings, [
    "internal_broker.embedded.enabled is true: the bridge would run its own meters' broker " +
    "on the port Mosquitto listens on; set it to false to use Mosquitto",
  ]);
});

async function run(command: string, args: string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
}

/** Exit code of `mosquitto_pub` logging in with `username` / `password`. */
async function publishAs(port: number, username: string, password: string): Promise<number> {
  const result = await run("mosquitto_pub", [
    "-h",
    "127.0.0.1",
    "-p",
    String(port),
    "-i",
    `kpm33b-files-${crypto.randomUUID().slice(0, 8)}`,
    "-u",
    username,
    "-P",
    password,
    "-t",
    "x",
    "-m",
    "y",
  ]);
  return result.code;
}

Deno.test("a real Mosquitto accepts the generated password and ACL files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-files-" });
  let child: Deno.ChildProcess | undefined;
  try {
    const files = await mosquittoFiles(config(
      {
        password: "meter-secret",
        accounts: { [A]: { username: "panel-a", password: "a-secret" } },
      },
      { names: { [B]: "Main Panel" } },
      { username: "bridge", password: "bridge-pw" },
    ));
    await Deno.writeTextFile(`${dir}/passwd`, files.passwd, { mode: 0o600 });
    await Deno.writeTextFile(`${dir}/acl`, files.acl);
    const port = freePort();
    await Deno.writeTextFile(
      `${dir}/mosquitto.conf`,
      [
        `listener ${port} 127.0.0.1`,
        "allow_anonymous false",
        "persistence false",
        `password_file ${dir}/passwd`,
        `acl_file ${dir}/acl`,
        "",
      ].join("\n"),
    );
    // As root, Mosquitto drops to its own user before reading the files.
    await new Deno.Command("chown", {
      args: ["mosquitto", dir, `${dir}/passwd`, `${dir}/acl`, `${dir}/mosquitto.conf`],
      stdout: "null",
      stderr: "null",
    }).output().catch(() => undefined);
    child = new Deno.Command("mosquitto", {
      args: ["-c", `${dir}/mosquitto.conf`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitForPort(port);

    assert.equal(await publishAs(port, "bridge", "bridge-pw"), 0);
    assert.equal(await publishAs(port, "meter", "meter-secret"), 0);
    assert.equal(await publishAs(port, "panel-a", "a-secret"), 0);
    assert.notEqual(await publishAs(port, "bridge", "wrong"), 0);
    assert.notEqual(await publishAs(port, "meter", "a-secret"), 0);
    assert.notEqual(await publishAs(port, "nobody", "bridge-pw"), 0);
  } finally {
    if (child !== undefined) {
      try {
        Deno.kill(child.pid, "SIGTERM");
      } catch {
        // already exited
      }
      await child.status;
    }
    await Deno.remove(dir, { recursive: true });
  }
});
