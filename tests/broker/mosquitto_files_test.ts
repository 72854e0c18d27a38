import assert from "node:assert/strict";
import {
  type DynsecAcl,
  type DynsecRole,
  mosquittoFiles,
  MosquittoFilesError,
  mosquittoPasswordHash,
} from "../../src/broker/mosquitto_files.ts";
import { Config } from "../../src/config/schema.ts";
import { shippedInternalMosquitto } from "../helpers/mosquitto.ts";
import { freePort } from "../helpers/ports.ts";

const A = "33B1225950027";
const B = "33B1225950028";
const C = "33B1225950029";

const GENERATED = "Generated from config.yaml by `deno task mosquitto:auth` " +
  "(or `kpm33b-bridge --write-mosquitto-auth`). Do not edit: change config.yaml and run it again.";

const UPLINK = [
  "MQTT_RT_DATA",
  "MQTT_ENY_NOW",
  "MQTT_DAY_DATA",
  "MQTT_TELEIND",
  "MQTT_COMMOD_SET_REP",
  "MQTT_COMMOD_READ_REP",
  "MQTT_METER_TIME_REP",
  "MQTT_TELECTRL_REP",
  "MQTT_SYS_SET_REP",
  "MQTT_SYS_REPLY",
  "MQTT_RECONFIG_REPLY",
  "MQTT_RECALL_REP",
];

/** The command topics of the meter whose id ends in `suffix`. */
function commandTopics(suffix: string): string[] {
  return [
    `MQTT_SET_${suffix}`,
    `MQTT_SETTIME_${suffix}`,
    `MQTT_TELECTRL_${suffix}`,
    `MQTT_RECONFIG_${suffix}`,
    `MQTT_COMMOD_SET_${suffix}`,
    `MQTT_COMMOD_READ_${suffix}`,
    `MQTT_SYS_CFG_${suffix}`,
    `MQTT_SYS_READ_${suffix}`,
  ];
}

const acl = (
  acltype: DynsecAcl["acltype"],
  topic: string,
  allow = true,
  priority = 0,
): DynsecAcl => ({ acltype, topic, priority, allow });

const PUBLISH_UPLINK = UPLINK.map((topic) => acl("publishClientSend", topic));

const BRIDGE_ROLE: DynsecRole = {
  rolename: "kpm33b-bridge",
  textDescription: "The bridge's own clients: everything.",
  acls: [
    acl("publishClientSend", "#"),
    acl("publishClientReceive", "#"),
    acl("subscribePattern", "#"),
  ],
};

/** The shared account's role when the command topics `hidden` belong to bound meters. */
function sharedRole(hidden: string[]): DynsecRole {
  return {
    rolename: "kpm33b-meters",
    textDescription: "Shared meter account: publishes uplink topics and reads any meter's " +
      "command topics, except those of meters with an account of their own (also those " +
      "of another id ending in the same 8 characters: the topics carry only those). It " +
      "reads no uplink topic: other meters' readings and replies stay private.",
    acls: [
      ...PUBLISH_UPLINK,
      ...[...UPLINK, ...hidden].flatMap((topic) => [
        acl("publishClientReceive", topic, false, 1),
        acl("subscribeLiteral", topic, false, 1),
      ]),
      acl("publishClientReceive", "+"),
      acl("subscribePattern", "+"),
    ],
  };
}

function boundRole(id: string): DynsecRole {
  return {
    rolename: `kpm33b-meter-${id}`,
    textDescription: `Meter ${id}: publishes uplink topics, reads its own command topics only.`,
    acls: [
      ...PUBLISH_UPLINK,
      ...commandTopics(id.slice(-8)).flatMap((topic) => [
        acl("publishClientReceive", topic),
        acl("subscribeLiteral", topic),
      ]),
    ],
  };
}

interface Dynsec {
  defaultACLAccess: Record<string, boolean>;
  clients: {
    username: string;
    textName: string;
    password: string;
    salt: string;
    iterations: number;
    roles: { rolename: string }[];
  }[];
  groups: unknown[];
  roles: DynsecRole[];
}

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

async function dynsecOf(config: Config): Promise<Dynsec> {
  const files = await mosquittoFiles(config);
  assert.ok(files.dynsec.endsWith("\n"));
  return JSON.parse(files.dynsec);
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** Asserts that `client` is there and is `username` with a hash of `password` and the role `rolename`. */
async function assertClient(
  client: Dynsec["clients"][number] | undefined,
  username: string,
  password: string,
  rolename: string,
) {
  assert.ok(client !== undefined, `a client ${username}`);
  assert.equal(client.username, username);
  assert.equal(client.textName, GENERATED);
  assert.deepEqual(client.roles, [{ rolename }]);
  assert.deepEqual(
    await mosquittoPasswordHash(password, fromBase64(client.salt)),
    { password: client.password, salt: client.salt, iterations: client.iterations },
  );
}

Deno.test("a hash with a fixed salt has the parts of the line mosquitto_passwd writes", async () => {
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
    const match = /^alice:\$7\$101\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(line);
    assert.ok(match, `unexpected mosquitto_passwd line: ${line}`);
    const salt = fromBase64(match[1] ?? "");
    assert.equal(salt.length, 12);
    assert.deepEqual(await mosquittoPasswordHash("s3cret", salt), {
      password: match[2],
      salt: match[1],
      iterations: 101,
    });
    assert.notEqual((await mosquittoPasswordHash("s3cres", salt)).password, match[2]);
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
  assert.deepEqual(await mosquittoPasswordHash("pässword", salt), {
    password: btoa(String.fromCharCode(...bits)),
    salt: "BwcHBwcHBwcHBwcH",
    iterations: 101,
  });
});

Deno.test("a hash with a random salt has a 12-byte salt and a 64-byte hash", async () => {
  const first = await mosquittoPasswordHash("s3cret");
  const second = await mosquittoPasswordHash("s3cret");
  for (const hash of [first, second]) {
    assert.equal(hash.iterations, 101);
    assert.equal(fromBase64(hash.salt).length, 12);
    assert.equal(fromBase64(hash.password).length, 64);
  }
  assert.notEqual(first.salt, second.salt);
  assert.notEqual(first.password, second.password);
});

Deno.test("there is a client for the bridge, the shared account and each bound account", async () => {
  const dynsec = await dynsecOf(config({
    username: "meter",
    password: "meter-secret",
    accounts: { [A]: { username: "panel-a", password: "a-secret" }, [B]: { password: "b-secret" } },
  }));
  assert.equal(dynsec.clients.length, 4);
  await assertClient(dynsec.clients[0], "bridge", "pw", "kpm33b-bridge");
  await assertClient(dynsec.clients[1], "meter", "meter-secret", "kpm33b-meters");
  await assertClient(dynsec.clients[2], "panel-a", "a-secret", `kpm33b-meter-${A}`);
  await assertClient(dynsec.clients[3], B, "b-secret", `kpm33b-meter-${B}`);
  assert.deepEqual(dynsec.groups, []);
});

Deno.test("there is no shared account without a meter password", async () => {
  const dynsec = await dynsecOf(config({
    accounts: { [A]: { username: "panel-a", password: "a-secret" } },
  }));
  assert.deepEqual(dynsec.clients.map((c) => c.username), ["bridge", "panel-a"]);
  assert.deepEqual(dynsec.roles, [BRIDGE_ROLE, boundRole(A)]);
});

Deno.test("each client gets its own salt", async () => {
  const dynsec = await dynsecOf(config({
    password: "same",
    accounts: { [A]: { username: "panel-a", password: "same" } },
  }));
  const [, shared, bound] = dynsec.clients;
  assert.ok(shared !== undefined && bound !== undefined);
  assert.notEqual(shared.salt, bound.salt);
  assert.notEqual(shared.password, bound.password);
});

Deno.test("nothing is allowed that no role grants", async () => {
  const dynsec = await dynsecOf(config({ password: "m" }));
  assert.deepEqual(dynsec.defaultACLAccess, {
    publishClientSend: false,
    publishClientReceive: false,
    subscribe: false,
    unsubscribe: true,
  });
});

Deno.test("the bridge may do everything, the shared account read any meter's commands but a bound one's, a bound one its own", async () => {
  const dynsec = await dynsecOf(config(
    {
      password: "meter-secret",
      accounts: { [A]: { username: "panel-a", password: "a-secret" } },
    },
    { names: { [B]: "Main Panel" } },
  ));
  assert.deepEqual(dynsec.roles, [
    BRIDGE_ROLE,
    sharedRole(commandTopics("25950027")),
    boundRole(A),
  ]);
});

Deno.test("the shared account's rules do not depend on which meters config.yaml names", async () => {
  const named = await dynsecOf(config(
    { password: "meter-secret", accounts: { [C]: { password: "c" } } },
    { names: { [A]: "First", [B]: "Second" }, overrides: { [B]: { profile: "full" } } },
  ));
  const unnamed = await dynsecOf(config({
    password: "meter-secret",
    accounts: { [C]: { password: "c" } },
  }));
  assert.deepEqual(named.roles, unnamed.roles);
  assert.deepEqual(named.roles[1], sharedRole(commandTopics("25950029")));
});

Deno.test("the shared account reads no uplink topic and nothing of several levels", async () => {
  const dynsec = await dynsecOf(config({ password: "meter-secret" }));
  assert.deepEqual(dynsec.roles, [BRIDGE_ROLE, sharedRole([])]);
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
  assert.deepEqual(JSON.parse(files.dynsec).clients.map((c: { username: string }) => c.username), [
    "bridge",
  ]);
});

Deno.test("a warning says no meter can log in without a meter password or accounts", async () => {
  const files = await mosquittoFiles(config());
  assert.deepEqual(files.warnings, [
    "no meter can log in: set internal_broker.meter_auth.password (KPM33B_METER_PASSWORD) " +
    "or add internal_broker.meter_auth.accounts",
  ]);
  const dynsec: Dynsec = JSON.parse(files.dynsec);
  assert.equal(dynsec.clients.length, 1);
  await assertClient(dynsec.clients[0], "bridge", "pw", "kpm33b-bridge");
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

Deno.test("a real Mosquitto with the shipped internal.conf accepts the generated accounts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-files-" });
  try {
    const port = freePort();
    await using _mosquitto = await shippedInternalMosquitto(
      config(
        {
          password: "meter-secret",
          accounts: { [A]: { username: "panel-a", password: "a-secret" } },
        },
        { names: { [B]: "Main Panel" } },
        { username: "bridge", password: "bridge-pw" },
      ),
      dir,
      port,
    );
    assert.equal(await publishAs(port, "bridge", "bridge-pw"), 0);
    assert.equal(await publishAs(port, "meter", "meter-secret"), 0);
    assert.equal(await publishAs(port, "panel-a", "a-secret"), 0);
    assert.notEqual(await publishAs(port, "bridge", "wrong"), 0);
    assert.notEqual(await publishAs(port, "meter", "a-secret"), 0);
    assert.notEqual(await publishAs(port, "nobody", "bridge-pw"), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
