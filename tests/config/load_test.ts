import assert from "node:assert/strict";
import { ConfigError, EmptyConfigError } from "../../src/config/config_error.ts";
import { configFromText, loadConfig, parseConfig } from "../../src/config/load.ts";
import type { EnvLookup } from "../../src/config/interpolate.ts";
import { leakedSecrets, SECRET_CONFIGS } from "../helpers/secret_configs.ts";

const FILE = "config.yaml";
const ENV: Record<string, string> = {
  PORT: "1884",
  MAX_BYTES: "1024",
  SECS: "300",
  PASSWORD: "s3cret",
  USER: "bridge",
  EMPTY: "",
};
const env: EnvLookup = (name) => ENV[name];
const noEnv: EnvLookup = () => undefined;

function parseError(text: string, lookup: EnvLookup = env): ConfigError {
  try {
    parseConfig(text, FILE, lookup);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `not a ConfigError: ${error}`);
    assert.equal(error.name, "ConfigError");
    assert.ok(error.problems.length > 0);
    return error;
  }
  assert.fail(`config was accepted:\n${text}`);
}

/**
 * Asserts that `actual` has every key of `expected` with an equal value
 * (recursively for plain objects); other keys of `actual` are not checked, so
 * settings added to the schema later do not break these tests.
 */
function assertIncludes(actual: unknown, expected: unknown, path = "config"): void {
  if (expected !== null && typeof expected === "object" && !Array.isArray(expected)) {
    assert.equal(typeof actual, "object", path);
    assert.notEqual(actual, null, path);
    for (const [key, value] of Object.entries(expected)) {
      assert.ok(Object.hasOwn(actual as object, key), `${path}.${key} is missing`);
      assertIncludes((actual as Record<string, unknown>)[key], value, `${path}.${key}`);
    }
    return;
  }
  assert.deepEqual(actual, expected, path);
}

const DEFAULTS = {
  internal_broker: { url: "mqtt://127.0.0.1:11883", client_id: "kpm33b-bridge" },
  central_broker: { url: "mqtt://127.0.0.1:1883", client_id: "kpm33b-bridge" },
  topics: { root: "kpm33b", retain_readings: false },
  state_dir: "./state",
  meters: {
    upload_interval_seconds: 60,
    upload_interval_minutes: 1,
    timezone: "UTC",
    exclude: [],
    names: {},
    profile: "default",
    fields: [],
    zero_confirm_readings: 3,
    overrides: {},
  },
  limits: {
    max_payload_bytes: 65536,
    reassembly_max_pending: 1000,
    reassembly_max_age_seconds: 60,
    max_meters: 100_000,
  },
  logging: { level: "info", format: "text", stats_interval_seconds: 300 },
};

Deno.test("parseConfig: {} gives the defaults", () => {
  assertIncludes(parseConfig("{}", FILE, noEnv), DEFAULTS);
  assertIncludes(parseConfig("# every default, on purpose\n{}\n", FILE, noEnv), DEFAULTS);
  // Optional credentials stay absent.
  const config = parseConfig("{}", FILE, noEnv);
  assert.equal(Object.hasOwn(config.central_broker, "username"), false);
  assert.equal(Object.hasOwn(config.central_broker, "password"), false);
  assert.deepEqual(config.meters.names, {});
  assert.deepEqual(config.meters.overrides, {});
});

Deno.test("parseConfig: text without settings (empty, blanks, comments, a bare null) is refused, not read as every default", () => {
  const empty = [
    "",
    "   \n\t\n",
    "\n\n",
    "# only\n# comments\n",
    "---\n",
    "--- # x\n...\n",
    "~\n",
    "null",
  ];
  for (const text of empty) {
    assert.throws(
      () => parseConfig(text, FILE, noEnv),
      (error: unknown) => {
        assert.ok(error instanceof EmptyConfigError, `${JSON.stringify(text)}: ${error}`);
        assert.ok(error instanceof ConfigError, "an empty file is a configuration error");
        assert.equal(error.file, FILE);
        assert.deepEqual(error.problems, [{
          location: FILE,
          path: "",
          message: "the file is empty (nothing but blanks or comments); " +
            "write the configuration into it, or {} to run on every default",
        }]);
        return true;
      },
    );
  }
  // A value that is not a mapping is an error about the value, not an empty file.
  assert.ok(!(parseError("42\n") instanceof EmptyConfigError));
  assert.ok(!(parseError('""\n') instanceof EmptyConfigError));
});

Deno.test("parseConfig: a full configuration", () => {
  const text = `
internal_broker:
  url: mqtt://0.0.0.0:11883
  username: meters
  password: meterpass
central_broker:
  url: mqtts://broker.example.com:8883
  client_id: bridge-1
topics:
  root: site1/kpm33b
  retain_readings: true
state_dir: /var/lib/kpm33b
meters:
  upload_interval_seconds: 300
  upload_interval_minutes: 15
  timezone: Europe/Vienna
  exclude: [33B1225950030]
  names:
    33B1225950027: Kitchen
  profile: full
  fields: [current, voltage]
  zero_confirm_readings: 5
  overrides:
    33B1225950028:
      upload_interval_seconds: 30
      profile: default
limits:
  max_payload_bytes: 4096
  max_meters: 10
logging:
  level: debug
  format: json
  stats_interval_seconds: 0
`;
  const config = parseConfig(text, FILE, noEnv);
  assertIncludes(config.internal_broker, {
    url: "mqtt://0.0.0.0:11883",
    username: "meters",
    password: "meterpass",
    client_id: "kpm33b-bridge",
  });
  assertIncludes(config.central_broker, {
    url: "mqtts://broker.example.com:8883",
    client_id: "bridge-1",
  });
  assert.equal(config.central_broker.username, undefined);
  assert.deepEqual(config.topics, { root: "site1/kpm33b", retain_readings: true });
  assert.equal(config.state_dir, "/var/lib/kpm33b");
  assertIncludes(config.meters, {
    upload_interval_seconds: 300,
    upload_interval_minutes: 15,
    timezone: "Europe/Vienna",
    exclude: ["33B1225950030"],
    names: { "33B1225950027": "Kitchen" },
    profile: "full",
    fields: ["current", "voltage"],
    zero_confirm_readings: 5,
    overrides: { "33B1225950028": { upload_interval_seconds: 30, profile: "default" } },
  });
  assert.deepEqual(config.meters.overrides, {
    "33B1225950028": { upload_interval_seconds: 30, profile: "default" },
  });
  assertIncludes(config.limits, { ...DEFAULTS.limits, max_payload_bytes: 4096, max_meters: 10 });
  assertIncludes(config.logging, { level: "debug", format: "json", stats_interval_seconds: 0 });
});

Deno.test("parseConfig: a bad interval names file:line:col, key path, value and allowed values", () => {
  const error = parseError("meters:\n  upload_interval_seconds: 45\n");
  assert.deepEqual(error.problems, [{
    location: "config.yaml:2:28",
    path: "meters.upload_interval_seconds",
    message: "45 is not one of 30, 60, 300, 600, 900, 1200, 1800, 3600",
  }]);
  assert.equal(
    error.message,
    "config.yaml:2:28 meters.upload_interval_seconds: 45 is not one of 30, 60, 300, 600, 900, 1200, 1800, 3600",
  );
});

Deno.test("parseConfig: every problem is reported, each with its own location", () => {
  const error = parseError(
    "meters:\n  upload_interval_minutes: 7\n  profile: huge\n  fields: [current, bogus]\nlogging:\n  level: verbose\n",
  );
  assert.deepEqual(error.problems, [
    {
      location: "config.yaml:2:28",
      path: "meters.upload_interval_minutes",
      message: "7 is not one of 1, 5, 10, 15, 20, 30, 60, 1440",
    },
    {
      location: "config.yaml:3:12",
      path: "meters.profile",
      message: '"huge" is not one of default, full',
    },
    {
      location: "config.yaml:4:21",
      path: "meters.fields.1",
      message: '"bogus" is not one of current, power, voltage, power_factor',
    },
    {
      location: "config.yaml:6:10",
      path: "logging.level",
      message: '"verbose" is not one of trace, debug, info, warning, error, fatal',
    },
  ]);
  assert.equal(error.message.split("\n").length, 4);
});

Deno.test("parseConfig: overrides are validated with their full key path", () => {
  const error = parseError(
    "meters:\n  overrides:\n    33B1225950027:\n      upload_interval_seconds: 45\n",
  );
  assert.equal(error.problems.length, 1);
  assert.equal(error.problems[0]?.location, "config.yaml:4:32");
  assert.equal(error.problems[0]?.path, "meters.overrides.33B1225950027.upload_interval_seconds");
  assert.equal(
    error.problems[0]?.message,
    "45 is not one of 30, 60, 300, 600, 900, 1200, 1800, 3600",
  );
});

Deno.test("parseConfig: unknown keys are reported at the key", () => {
  const error = parseError("metres:\n  x: 1\nmeters:\n  profil: full\n");
  const byPath = Object.fromEntries(error.problems.map((p) => [p.path, p]));
  assert.deepEqual(Object.keys(byPath).toSorted(), ["meters.profil", "metres"]);
  assert.equal(byPath["metres"]?.location, "config.yaml:1:1");
  assert.equal(byPath["meters.profil"]?.location, "config.yaml:4:3");
  for (const problem of error.problems) assert.match(problem.message, /^unknown key/);
});

Deno.test("parseConfig: a bad time zone", () => {
  const error = parseError("meters:\n  timezone: Mars/Olympus\n");
  assert.deepEqual(error.problems, [{
    location: "config.yaml:2:13",
    path: "meters.timezone",
    message: '"Mars/Olympus" is not a known IANA time zone (e.g. Europe/Vienna, UTC)',
  }]);
  assert.equal(
    parseConfig("meters:\n  timezone: Europe/Vienna\n", FILE, noEnv).meters.timezone,
    "Europe/Vienna",
  );
});

Deno.test("parseConfig: bad broker URLs", () => {
  for (const url of ["http://broker:1883", "not a url", "mqtt://", "broker:1883"]) {
    const error = parseError(`central_broker:\n  url: "${url}"\n`);
    assert.equal(error.problems.length, 1, url);
    assert.equal(error.problems[0]?.path, "central_broker.url");
    assert.equal(error.problems[0]?.location, "config.yaml:2:8");
    assert.equal(
      error.problems[0]?.message,
      `${
        JSON.stringify(url)
      } is not a broker URL like mqtt://host:1883 (schemes: mqtt, mqtts, tcp, ssl, ws, wss)`,
    );
  }
  for (
    const url of [
      "mqtt://h:1883",
      "mqtts://h",
      "tcp://10.0.0.1:1883",
      "ssl://h:8883",
      "ws://h/mqtt",
      "wss://h:443/mqtt",
    ]
  ) {
    assert.equal(
      parseConfig(`central_broker:\n  url: ${url}\n`, FILE, noEnv).central_broker.url,
      url,
    );
  }
});

Deno.test("parseConfig: numeric ranges and types", () => {
  const tooSmall = parseError("limits:\n  max_payload_bytes: 10\n");
  assert.deepEqual(tooSmall.problems, [{
    location: "config.yaml:2:22",
    path: "limits.max_payload_bytes",
    message: "must be at least 256 (got 10)",
  }]);
  const tooBig = parseError("meters:\n  zero_confirm_readings: 1001\n");
  assert.equal(tooBig.problems[0]?.message, "must be at most 1000 (got 1001)");
  const notNumber = parseError("limits:\n  max_meters: lots\n");
  assert.equal(notNumber.problems[0]?.path, "limits.max_meters");
  assert.match(notNumber.problems[0]?.message ?? "", /\(got "lots"\)$/);
  const bool = parseError("topics:\n  retain_readings: maybe\n");
  assert.equal(bool.problems[0]?.path, "topics.retain_readings");
});

Deno.test("parseConfig: a bad topic root and bad meter ids", () => {
  const root = parseError("topics:\n  root: a//b\n");
  assert.equal(root.problems[0]?.path, "topics.root");
  assert.equal(root.problems[0]?.location, "config.yaml:2:9");
  const exclude = parseError("meters:\n  exclude: ['../#']\n");
  assert.equal(exclude.problems[0]?.path, "meters.exclude.0");
  assert.equal(exclude.problems[0]?.message, "meter id must be exactly 13 characters 0-9 or A-Z");
  const override = parseError("meters:\n  overrides:\n    lowercase0000:\n      profile: full\n");
  assert.equal(override.problems[0]?.path.startsWith("meters.overrides"), true);
});

Deno.test("parseConfig: meters.admission defaults, and bad patterns named at their key", () => {
  assert.deepEqual(parseConfig("meters: {}\n", FILE, noEnv).meters.admission, {
    new_per_minute: 60,
    burst: 1000,
    allow: [],
  });
  const error = parseError(
    "meters:\n  admission:\n    burst: 0\n    allow: ['33B12259500*', '33B.*']\n",
  );
  assert.deepEqual(error.problems.map((p) => p.path), [
    "meters.admission.burst",
    "meters.admission.allow.1",
  ]);
  assert.match(error.problems[1]?.message ?? "", /prefix ending in \*, e\.g\. 33B12259500\*/);
});

Deno.test("parseConfig: YAML syntax errors name the line", () => {
  const error = parseError("meters: [\n");
  assert.equal(error.problems[0]?.path, "");
  assert.equal(error.problems[0]?.location, "config.yaml:2:1");
  assert.match(error.problems[0]?.message ?? "", /^YAML syntax error: /);
  assert.doesNotMatch(error.problems[0].message, /\n/);
  const nested = parseError("meters:\n  profile: full\n    fields: [current]\n");
  assert.match(nested.problems[0]?.location ?? "", /^config\.yaml:[23]:\d+$/);
  assert.match(nested.message, /YAML syntax error/);
  const tab = parseError("meters:\n\tprofile: full\n");
  assert.match(tab.problems[0]?.location ?? "", /^config\.yaml:2:\d+$/);
});

Deno.test("parseConfig: ${VAR} and ${VAR:-default} interpolation", () => {
  const config = parseConfig(
    `central_broker:
  url: mqtt://h:\${PORT}
  username: \${USER}
  password: \${PASSWORD}
internal_broker:
  url: mqtt://127.0.0.1:\${INTERNAL_PORT:-11884}
meters:
  upload_interval_seconds: \${SECS}
  upload_interval_minutes: \${MINS:-5}
limits:
  max_payload_bytes: \${MAX_BYTES}
`,
    FILE,
    env,
  );
  assert.equal(config.central_broker.url, "mqtt://h:1884");
  assert.equal(config.central_broker.username, "bridge");
  assert.equal(config.central_broker.password, "s3cret");
  assert.equal(config.internal_broker.url, "mqtt://127.0.0.1:11884");
  // Numbers from the environment arrive as strings and are accepted.
  assert.equal(config.meters.upload_interval_seconds, 300);
  assert.equal(config.meters.upload_interval_minutes, 5);
  assert.equal(config.limits.max_payload_bytes, 1024);
});

Deno.test("parseConfig: values from the environment are validated like any other", () => {
  const error = parseError(
    "meters:\n  upload_interval_seconds: ${BAD}\n",
    (n) => n === "BAD" ? "45" : undefined,
  );
  assert.equal(error.problems[0]?.path, "meters.upload_interval_seconds");
  assert.equal(
    error.problems[0]?.message,
    "45 is not one of 30, 60, 300, 600, 900, 1200, 1800, 3600",
  );
});

Deno.test("parseConfig: $${ writes a literal ${", () => {
  const config = parseConfig(
    "central_broker:\n  url: mqtt://h\n  password: pa$${PASSWORD}ss\n",
    FILE,
    env,
  );
  assert.equal(config.central_broker.password, "pa${PASSWORD}ss");
});

Deno.test("parseConfig: a missing variable is an error naming the variable, the line and the key", () => {
  const error = parseError("central_broker:\n  url: mqtt://h:${NOPE}\n");
  assert.deepEqual(error.problems, [{
    location: "config.yaml:2:8",
    path: "central_broker.url",
    message: "environment variable NOPE is not set (use ${NOPE:-default} to give a default)",
  }]);
  assert.equal(
    error.message,
    "config.yaml:2:8 central_broker.url: environment variable NOPE is not set " +
      "(use ${NOPE:-default} to give a default)",
  );
  // An empty variable counts as unset.
  const empty = parseError("central_broker:\n  password: ${EMPTY}\n");
  assert.match(empty.problems[0]?.message ?? "", /^environment variable EMPTY is not set/);
  // Every bad reference is reported.
  const two = parseError("central_broker:\n  username: ${A1}\n  password: ${A2}\n");
  assert.deepEqual(two.problems.map((p) => p.location), ["config.yaml:2:13", "config.yaml:3:13"]);
});

Deno.test("parseConfig: invalid references are errors", () => {
  const error = parseError("central_broker:\n  url: ${BAD-NAME}\n");
  assert.equal(
    error.problems[0]?.message,
    '"${BAD-NAME}" is not a valid reference; use ${NAME} or ${NAME:-default}',
  );
});

Deno.test("parseConfig: keys are not interpolated", () => {
  const error = parseError(
    "meters:\n  names:\n    ${ID}: Kitchen\n",
    (n) => n === "ID" ? "33B1225950027" : undefined,
  );
  assert.equal(error.problems[0]?.path.startsWith("meters.names"), true);
});

Deno.test("ConfigError lists every problem in its message", () => {
  const error = new ConfigError([
    { location: "a.yaml:1:1", path: "x.y", message: "bad" },
    { location: "a.yaml", path: "", message: "worse" },
  ]);
  assert.ok(error instanceof Error);
  assert.equal(error.name, "ConfigError");
  assert.equal(error.message, "a.yaml:1:1 x.y: bad\na.yaml: worse");
  assert.equal(error.problems.length, 2);
});

Deno.test("loadConfig: a missing file is a ConfigError naming the path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/does-not-exist.yaml`;
    await assert.rejects(loadConfig(path, noEnv), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems, [{
        location: path,
        path: "",
        message: "file not found (pass --config PATH)",
      }]);
      assert.ok(error.message.includes(path));
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadConfig: reads and validates a real file", async () => {
  const path = await Deno.makeTempFile({ suffix: ".yaml" });
  try {
    await Deno.writeTextFile(
      path,
      "meters:\n  timezone: Europe/Vienna\n  upload_interval_seconds: ${SECS}\n",
    );
    const config = await loadConfig(path, env);
    assert.equal(config.meters.timezone, "Europe/Vienna");
    assert.equal(config.meters.upload_interval_seconds, 300);
    assertIncludes(config.limits, DEFAULTS.limits);

    await Deno.writeTextFile(path, "meters:\n  upload_interval_seconds: 45\n");
    await assert.rejects(loadConfig(path, env), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.problems[0]?.location, `${path}:2:28`);
      return true;
    });
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("loadConfig: a directory cannot be read", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(loadConfig(dir, noEnv), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.problems[0]?.location, dir);
      assert.match(error.problems[0]?.message ?? "", /^cannot read: /);
      return true;
    });
  } finally {
    await Deno.remove(dir);
  }
});

Deno.test("loadConfig: an empty, blank or comments-only file is refused naming its path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config.yaml`;
    for (const text of ["", " \n\n\t", "# meters:\n#   exclude: [33B1225950027]\n"]) {
      await Deno.writeTextFile(path, text);
      await assert.rejects(loadConfig(path, noEnv), (error: unknown) => {
        assert.ok(error instanceof EmptyConfigError, String(error));
        assert.equal(error.file, path);
        assert.match(error.message, new RegExp(`^${path}: the file is empty`));
        return true;
      });
    }
    await Deno.writeTextFile(path, "{}\n");
    assertIncludes(await loadConfig(path, noEnv), { meters: DEFAULTS.meters });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an unresolved alias or an alias bomb is a configuration error, not a crash", () => {
  const unresolved = parseError("meters: *x\n");
  assert.match(unresolved.message, /config\.yaml: YAML error: Unresolved alias/);
  const rows = Array.from({ length: 9 }, () => "*a").join(", ");
  const bomb = parseError(
    `a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [${rows}]\nc: &c [${rows.replaceAll("a", "b")}]\n` +
      `d: [${rows.replaceAll("a", "c")}]\n`,
  );
  assert.match(bomb.message, /Excessive alias count/);
});

Deno.test("configuration errors never repeat a password or the credentials in a URL", () => {
  const error = parseError(
    'internal_broker: { url: "mqtt//bridge:S3cretPw@host:1883", password: 12345678 }\n',
  );
  assert.doesNotMatch(error.message, /S3cretPw|12345678/);
  assert.match(error.message, /internal_broker\.url: "mqtt\/\/<credentials>@host:1883" is not/);
  assert.match(error.message, /internal_broker\.password: .*value not shown/);
});

Deno.test("http.auth_token comes from the environment and is never repeated in an error", () => {
  const lookup: EnvLookup = (name) => name === "KPM33B_HTTP_TOKEN" ? "from-env-9876" : undefined;
  const config = parseConfig('http: { auth_token: "${KPM33B_HTTP_TOKEN}" }\n', FILE, lookup);
  assert.equal(config.http.auth_token, "from-env-9876");
  assert.equal(parseConfig("http: {}\n", FILE, lookup).http.auth_token, undefined);
  const wrongType = parseError("http: { auth_token: 98765432 }\n");
  assert.doesNotMatch(wrongType.message, /98765432/);
  assert.match(wrongType.message, /http\.auth_token: .*value not shown/);
  const empty = parseError('http: { auth_token: "${KPM33B_UNSET_TOKEN:-}" }\n');
  assert.match(
    empty.message,
    /http\.auth_token: is empty, which would let anyone in: set a token or remove http\.auth_token/,
  );
});

Deno.test("no configuration error repeats a secret, whatever breaks; each names the key and the problem", async () => {
  for (const { name, yaml, expect } of SECRET_CONFIGS) {
    await assert.rejects(configFromText(yaml, FILE, noEnv), (error: unknown) => {
      assert.ok(error instanceof ConfigError, `${name}: ${error}`);
      assert.deepEqual(leakedSecrets(error.message), [], `${name}:\n${error.message}`);
      for (const pattern of expect) assert.match(error.message, pattern, name);
      return true;
    });
  }
});

Deno.test("a secret from the environment is not repeated either", () => {
  const error = parseError(
    "internal_broker:\n  meter_auth:\n    accounts:\n      33B1225950027: ${ACCOUNT}\n" +
      "central_broker:\n  password: ${CENTRAL}\n  tls: { key: '${CENTRAL}' }\n  token: ${CENTRAL}\n",
    (n) => n === "ACCOUNT" ? "FromEnvAccount" : n === "CENTRAL" ? "FromEnvCentral" : undefined,
  );
  assert.doesNotMatch(error.message, /FromEnv/);
  assert.match(error.message, /accounts\.33B1225950027: Invalid input: expected object/);
  assert.match(error.message, /central_broker\.token: unknown key/);
});

Deno.test("an embedded broker must listen where the bridge connects, and not on the LAN without a password", () => {
  const port = parseError(
    "internal_broker: { url: mqtt://127.0.0.1:11883, embedded: { enabled: true, port: 12000 } }\n",
  );
  assert.match(
    port.message,
    /internal_broker\.embedded\.port: 12000 differs from the port of internal_broker\.url \(11883\)/,
  );
  const host = parseError(
    "internal_broker: { url: mqtt://127.0.0.1:11883, embedded: { enabled: true, host: 10.0.0.5 } }\n",
  );
  assert.match(
    host.message,
    /internal_broker\.embedded\.host: the bridge connects to .* \(host 127\.0\.0\.1\)/,
  );
  const open = parseError(
    "internal_broker: { url: mqtt://127.0.0.1:11883, embedded: { enabled: true, host: 0.0.0.0 } }\n",
  );
  assert.match(
    open.message,
    /0\.0\.0\.0 would open the meters' broker to the network without a password/,
  );
  assert.doesNotThrow(() =>
    parseConfig(
      "internal_broker:\n  url: mqtt://127.0.0.1:11883\n  embedded: { enabled: true, host: 0.0.0.0, port: 11883 }\n  meter_auth: { password: x }\n",
      FILE,
      env,
    )
  );
});

Deno.test("parseConfig: the outbox section, its defaults and its bounds", () => {
  assert.deepEqual(parseConfig("{}", FILE, noEnv).outbox, {
    enabled: true,
    max_entries: 1_000_000,
    max_megabytes: 256,
    max_age_hours: 168,
    drain_rate_per_second: 50,
  });
  const off = parseConfig("outbox: { enabled: false, drain_rate_per_second: 0 }", FILE, noEnv);
  assert.equal(off.outbox.enabled, false);
  assert.equal(off.outbox.drain_rate_per_second, 0);
  const tooFew = parseError("outbox:\n  max_entries: 10\n");
  assert.deepEqual(tooFew.problems, [{
    location: "config.yaml:2:16",
    path: "outbox.max_entries",
    message: "must be at least 100 (got 10)",
  }]);
  assert.equal(parseError("outbox:\n  size: 5\n").problems[0]?.path, "outbox.size");
});

Deno.test("logging.file: off by default; daily, no size limit and 7 kept when only a path is given", () => {
  assert.equal(parseConfig("{}", FILE, noEnv).logging.file, undefined);
  assert.deepEqual(
    parseConfig("logging:\n  file: { path: /var/log/kpm33b/bridge.log }\n", FILE, noEnv).logging
      .file,
    { path: "/var/log/kpm33b/bridge.log", daily: true, max_megabytes: 0, keep: 7 },
  );
});

Deno.test("logging.file: a bad keep or a missing path names the line and the key", () => {
  const keep = parseError("logging:\n  file: { path: bridge.log, keep: 0 }\n");
  assert.equal(keep.problems[0]?.location, `${FILE}:2:35`);
  assert.equal(keep.problems[0]?.path, "logging.file.keep");
  assert.match(keep.problems[0]?.message ?? "", /must be at least 1/);
  const path = parseError("logging:\n  file: { daily: false }\n");
  assert.equal(path.problems[0]?.path, "logging.file.path");
});

Deno.test("loadConfig: a relative logging.file.path is made absolute, as permissions need", async () => {
  const path = await Deno.makeTempFile({ suffix: ".yaml" });
  try {
    await Deno.writeTextFile(path, "logging:\n  file: { path: logs/bridge.log }\n");
    const config = await loadConfig(path, env);
    assert.equal(config.logging.file?.path, `${Deno.cwd()}/logs/bridge.log`);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("booleans may come from the environment as true or false; anything else is named", () => {
  const lookup: EnvLookup = (name) => ({ ON: "true", OFF: "false", YES: "yes" })[name];
  const config = parseConfig(
    "internal_broker:\n  url: mqtt://127.0.0.1:11883\n  embedded:\n    enabled: ${ON}\nhttp:\n  enabled: ${OFF}\n",
    FILE,
    lookup,
  );
  assert.equal(config.internal_broker.embedded.enabled, true);
  assert.equal(config.http.enabled, false);
  const error = parseError("http:\n  enabled: ${YES}\n", lookup);
  assert.equal(error.problems[0]?.path, "http.enabled");
  assert.match(error.problems[0]?.message ?? "", /"yes" is not true or false/);
});

Deno.test("parseConfig: cluster needs a replica name with a share group, and no embedded meters' broker", () => {
  const ok = parseConfig(
    "internal_broker: { url: mqtt://emqx:1883 }\ncluster:\n  share_group: kpm33b\n  replica: ${HOSTNAME}\n",
    FILE,
    (name) => name === "HOSTNAME" ? "kpm33b-bridge-0" : undefined,
  );
  assert.deepEqual(ok.cluster, { share_group: "kpm33b", replica: "kpm33b-bridge-0" });
  assert.deepEqual(parseConfig("{}", FILE, noEnv).cluster, { share_group: "", replica: "" });

  const missing = parseError("cluster:\n  share_group: kpm33b\n");
  assert.match(missing.message, /cluster\.replica: is required with cluster\.share_group/);
  const embedded = parseError(
    "internal_broker: { url: mqtt://127.0.0.1:11883, embedded: { enabled: true } }\n" +
      "cluster: { share_group: kpm33b, replica: r1 }\n",
  );
  assert.match(embedded.message, /cluster\.share_group: the embedded meters' broker has no shared/);
  const bad = parseError("cluster: { share_group: 'a/b', replica: 'x y' }\n");
  assert.match(bad.message, /cluster\.share_group: must be 1-64 characters/);
  assert.match(bad.message, /cluster\.replica: must be 1-64 characters/);
});
