import assert from "node:assert/strict";
import { relative } from "node:path";
import { ConfigError } from "../../src/config/config_error.ts";
import { readPemFiles } from "../../src/config/pem_files.ts";
import { Config } from "../../src/config/schema.ts";

const CONFIG_PATH = "/etc/kpm33b/config.yaml";

const pem = (label: string, body: string) =>
  `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;

const CA = pem("CERTIFICATE", "Q0EgY2VydGlmaWNhdGU=");
const CLIENT_CERT = pem("CERTIFICATE", "Y2xpZW50IGNlcnQ=");
const CLIENT_KEY = pem("PRIVATE KEY", "Y2xpZW50IGtleQ==");
const SERVER_CERT = pem("CERTIFICATE", "c2VydmVyIGNlcnQ=");
const SERVER_KEY = pem("EC PRIVATE KEY", "c2VydmVyIGtleQ==");

/** Runs `body` with a temp directory holding `files`, removed afterwards. */
async function withFiles(
  files: Record<string, string>,
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-pem-" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function problemsOf(config: Config) {
  const error = await readPemFiles(config, CONFIG_PATH).then(
    () => assert.fail("readPemFiles did not throw"),
    (error: unknown) => error,
  );
  assert.ok(error instanceof ConfigError, `not a ConfigError: ${error}`);
  return error.problems;
}

Deno.test("PEM files of the central client and the internal listener are read into their keys", async () => {
  await withFiles({
    "ca.pem": CA,
    "client.pem": CLIENT_CERT,
    "client.key": CLIENT_KEY,
    "server.pem": SERVER_CERT,
    "server.key": SERVER_KEY,
  }, async (dir) => {
    const config = Config.parse({
      internal_broker: {
        url: "mqtt://127.0.0.1:11883",
        embedded: {
          enabled: true,
          tls: { port: 8883, cert_file: `${dir}/server.pem`, key_file: `${dir}/server.key` },
        },
      },
      central_broker: {
        url: "mqtts://ha.local:8883",
        tls: {
          ca_file: `${dir}/ca.pem`,
          cert_file: `${dir}/client.pem`,
          key_file: `${dir}/client.key`,
        },
      },
    });
    const read = await readPemFiles(config, CONFIG_PATH);
    assert.deepEqual(read.central_broker.tls, {
      ca_file: `${dir}/ca.pem`,
      cert_file: `${dir}/client.pem`,
      key_file: `${dir}/client.key`,
      verify: true,
      ca: CA,
      cert: CLIENT_CERT,
      key: CLIENT_KEY,
    });
    assert.deepEqual(read.internal_broker.embedded.tls, {
      port: 8883,
      cert_file: `${dir}/server.pem`,
      key_file: `${dir}/server.key`,
      cert: SERVER_CERT,
      key: SERVER_KEY,
    });
    assert.deepEqual(read.internal_broker.tls, { verify: true });
    assert.equal(read.central_broker.embedded.tls, undefined);
    // Everything else is untouched.
    assert.deepEqual(
      {
        ...read,
        internal_broker: { ...read.internal_broker, embedded: config.internal_broker.embedded },
        central_broker: { ...read.central_broker, tls: config.central_broker.tls },
      },
      config,
    );
  });
});

Deno.test("PEM files of the internal client and the central listener are read into their keys", async () => {
  await withFiles({
    "ca.pem": CA,
    "client.pem": CLIENT_CERT,
    "client.key": CLIENT_KEY,
    "server.pem": SERVER_CERT,
    "server.key": SERVER_KEY,
  }, async (dir) => {
    const config = Config.parse({
      internal_broker: {
        url: "mqtts://mosquitto.lan:8883",
        tls: {
          ca_file: `${dir}/ca.pem`,
          cert_file: `${dir}/client.pem`,
          key_file: `${dir}/client.key`,
          verify: false,
        },
      },
      central_broker: {
        url: "mqtt://127.0.0.1:11884",
        embedded: {
          enabled: true,
          tls: { port: 8884, cert_file: `${dir}/server.pem`, key_file: `${dir}/server.key` },
        },
      },
    });
    const read = await readPemFiles(config, CONFIG_PATH);
    assert.equal(read.internal_broker.tls.ca, CA);
    assert.equal(read.internal_broker.tls.cert, CLIENT_CERT);
    assert.equal(read.internal_broker.tls.key, CLIENT_KEY);
    assert.equal(read.internal_broker.tls.verify, false);
    assert.equal(read.central_broker.embedded.tls?.cert, SERVER_CERT);
    assert.equal(read.central_broker.embedded.tls?.key, SERVER_KEY);
  });
});

Deno.test("only the named files are read; a CA alone leaves cert and key unset", async () => {
  await withFiles({ "ca.pem": CA }, async (dir) => {
    const config = Config.parse({
      central_broker: { url: "mqtts://ha.local", tls: { ca_file: `${dir}/ca.pem` } },
    });
    const read = await readPemFiles(config, CONFIG_PATH);
    assert.deepEqual(read.central_broker.tls, { ca_file: `${dir}/ca.pem`, verify: true, ca: CA });
  });
});

Deno.test("a configuration without PEM files comes back equal", async () => {
  const config = Config.parse({});
  assert.deepEqual(await readPemFiles(config, CONFIG_PATH), config);
});

Deno.test("PEM text already in the configuration is replaced by the named file", async () => {
  await withFiles({ "ca.pem": CA }, async (dir) => {
    const config = Config.parse({
      central_broker: { url: "mqtts://ha.local", tls: { ca_file: `${dir}/ca.pem`, ca: "stale" } },
    });
    assert.equal((await readPemFiles(config, CONFIG_PATH)).central_broker.tls.ca, CA);
  });
});

Deno.test("reading PEM files does not change the configuration passed in", async () => {
  await withFiles(
    { "ca.pem": CA, "server.pem": SERVER_CERT, "server.key": SERVER_KEY },
    async (dir) => {
      const config = Config.parse({
        internal_broker: {
          url: "mqtt://127.0.0.1:11883",
          embedded: {
            enabled: true,
            tls: { port: 8883, cert_file: `${dir}/server.pem`, key_file: `${dir}/server.key` },
          },
        },
        central_broker: { url: "mqtts://ha.local", tls: { ca_file: `${dir}/ca.pem` } },
      });
      const before = structuredClone(config);
      const read = await readPemFiles(config, CONFIG_PATH);
      assert.notEqual(read, config);
      assert.deepEqual(config, before);
      assert.equal(config.central_broker.tls.ca, undefined);
      assert.equal(config.internal_broker.embedded.tls?.cert, undefined);
      assert.equal(config.internal_broker.embedded.tls?.key, undefined);
    },
  );
});

Deno.test("a relative file name is read against the current directory", async () => {
  await withFiles({ "ca.pem": CA }, async (dir) => {
    const relativePath = relative(Deno.cwd(), `${dir}/ca.pem`);
    assert.ok(!relativePath.startsWith("/"));
    const config = Config.parse({
      central_broker: { url: "mqtts://ha.local", tls: { ca_file: relativePath } },
    });
    assert.equal((await readPemFiles(config, CONFIG_PATH)).central_broker.tls.ca, CA);
  });
});

Deno.test("a missing file is a problem at its key, naming the file", async () => {
  await withFiles({}, async (dir) => {
    const problems = await problemsOf(Config.parse({
      central_broker: { url: "mqtts://ha.local", tls: { ca_file: `${dir}/missing.pem` } },
    }));
    assert.deepEqual(problems, [{
      location: CONFIG_PATH,
      path: "central_broker.tls.ca_file",
      message: `${dir}/missing.pem: file not found`,
    }]);
  });
});

Deno.test("PEM text where a file name belongs is a problem at its key that never repeats it", async () => {
  const problems = (await problemsOf(Config.parse({
    central_broker: { url: "mqtts://ha.local", tls: { key_file: CLIENT_KEY } },
    internal_broker: {
      url: "mqtt://127.0.0.1:11883",
      embedded: { tls: { port: 8883, cert_file: "cert.pem", key_file: "Y2xpZW50\nIGtleQ==" } },
    },
  }))).filter((problem) => problem.path.endsWith(".key_file"));
  assert.deepEqual(problems.map((p) => p.path), [
    "internal_broker.embedded.tls.key_file",
    "central_broker.tls.key_file",
  ]);
  for (const problem of problems) {
    assert.equal(
      problem.message,
      "holds PEM text, not a file name: save the PEM text to a file and write its path here " +
        "(value not shown: it may be a private key)",
    );
    assert.doesNotMatch(problem.message, /Y2xpZW50|BEGIN/);
  }
});

Deno.test("a missing file given relatively is reported with its absolute path", async () => {
  await withFiles({}, async (dir) => {
    const relativePath = relative(Deno.cwd(), `${dir}/missing.pem`);
    const problems = await problemsOf(Config.parse({
      central_broker: { url: "mqtts://ha.local", tls: { cert_file: relativePath } },
    }));
    assert.deepEqual(problems, [{
      location: CONFIG_PATH,
      path: "central_broker.tls.cert_file",
      message: `${dir}/missing.pem: file not found`,
    }]);
  });
});

Deno.test("a file that is not PEM is a problem at its key", async () => {
  await withFiles({ "key.der": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n" }, async (dir) => {
    const problems = await problemsOf(Config.parse({
      internal_broker: {
        url: "mqtt://127.0.0.1:11883",
        embedded: {
          enabled: true,
          tls: { port: 8883, cert_file: `${dir}/key.der`, key_file: `${dir}/key.der` },
        },
      },
    }));
    assert.deepEqual(problems, [
      {
        location: CONFIG_PATH,
        path: "internal_broker.embedded.tls.cert_file",
        message: `${dir}/key.der is not a PEM file (no "-----BEGIN" line)`,
      },
      {
        location: CONFIG_PATH,
        path: "internal_broker.embedded.tls.key_file",
        message: `${dir}/key.der is not a PEM file (no "-----BEGIN" line)`,
      },
    ]);
  });
});

Deno.test("a directory instead of a file is a problem at its key", async () => {
  await withFiles({}, async (dir) => {
    const problems = await problemsOf(Config.parse({
      central_broker: { url: "mqtts://ha.local", tls: { key_file: dir } },
    }));
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.location, CONFIG_PATH);
    assert.equal(problems[0]?.path, "central_broker.tls.key_file");
    assert.ok(problems[0]?.message.startsWith(`${dir}: `), problems[0]?.message);
    assert.notEqual(problems[0]?.message, `${dir}: file not found`);
  });
});

Deno.test("every unreadable or non-PEM file is reported at once, in key order", async () => {
  await withFiles({ "ca.pem": CA, "empty.pem": "", "text.pem": "hello\n" }, async (dir) => {
    const problems = await problemsOf(Config.parse({
      internal_broker: {
        url: "mqtts://mosquitto.lan",
        tls: { ca_file: `${dir}/ca.pem`, cert_file: `${dir}/nope.pem` },
        embedded: {
          enabled: true,
          tls: { port: 8883, cert_file: `${dir}/empty.pem`, key_file: `${dir}/ca.pem` },
        },
      },
      central_broker: {
        url: "mqtts://ha.local",
        tls: { ca_file: `${dir}/text.pem`, key_file: `${dir}/gone.key` },
      },
    }));
    assert.deepEqual(problems, [
      {
        location: CONFIG_PATH,
        path: "internal_broker.tls.cert_file",
        message: `${dir}/nope.pem: file not found`,
      },
      {
        location: CONFIG_PATH,
        path: "internal_broker.embedded.tls.cert_file",
        message: `${dir}/empty.pem is not a PEM file (no "-----BEGIN" line)`,
      },
      {
        location: CONFIG_PATH,
        path: "central_broker.tls.ca_file",
        message: `${dir}/text.pem is not a PEM file (no "-----BEGIN" line)`,
      },
      {
        location: CONFIG_PATH,
        path: "central_broker.tls.key_file",
        message: `${dir}/gone.key: file not found`,
      },
    ]);
  });
});

Deno.test("the error message lists every problem with the config file and key", async () => {
  await withFiles({}, async (dir) => {
    const config = Config.parse({
      central_broker: {
        url: "mqtts://ha.local",
        tls: { ca_file: `${dir}/a.pem`, cert_file: `${dir}/b.pem` },
      },
    });
    await assert.rejects(readPemFiles(config, CONFIG_PATH), {
      name: "ConfigError",
      message: `${CONFIG_PATH} central_broker.tls.ca_file: ${dir}/a.pem: file not found\n` +
        `${CONFIG_PATH} central_broker.tls.cert_file: ${dir}/b.pem: file not found`,
    });
  });
});
