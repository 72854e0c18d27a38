import assert from "node:assert/strict";
import { parseCli } from "../src/cli.ts";

Deno.test("defaults to running with ./config.yaml", () => {
  assert.deepEqual(parseCli([]), {
    kind: "run",
    configPath: "./config.yaml",
    workers: ["proxy", "config_sender", "http"],
  });
});

Deno.test("--config / -c choose the file; --check-config only validates", () => {
  assert.deepEqual(parseCli(["--config", "/etc/kpm33b/config.yaml"]), {
    kind: "run",
    configPath: "/etc/kpm33b/config.yaml",
    workers: ["proxy", "config_sender", "http"],
  });
  assert.deepEqual(parseCli(["-c", "x.yaml", "--check-config"]), {
    kind: "check-config",
    configPath: "x.yaml",
  });
});

Deno.test("--write-mosquitto-auth DIR writes Mosquitto's files, not with --check-config", () => {
  assert.deepEqual(parseCli(["-c", "/etc/kpm33b/config.yaml", "--write-mosquitto-auth", "/x"]), {
    kind: "write-mosquitto-auth",
    configPath: "/etc/kpm33b/config.yaml",
    dir: "/x",
  });
  const both = parseCli(["--check-config", "--write-mosquitto-auth", "/x"]);
  assert.equal(both.kind, "usage-error");
  assert.match((both as { message: string }).message, /cannot be combined/);
  assert.equal(parseCli(["--write-mosquitto-auth"]).kind, "usage-error");
});

Deno.test("--reset-meter-history ID takes a valid meter id, alone", () => {
  assert.deepEqual(parseCli(["--reset-meter-history", "33B1225950027"]), {
    kind: "reset-meter-history",
    configPath: "./config.yaml",
    id: "33B1225950027",
  });
  const lower = parseCli(["--reset-meter-history", "33b1225950027"]);
  assert.deepEqual(lower, {
    kind: "usage-error",
    message: '--reset-meter-history "33b1225950027": meter id must be exactly 13 characters ' +
      "0-9 or A-Z",
  });
  const both = parseCli(["--check-config", "--reset-meter-history", "33B1225950027"]);
  assert.deepEqual(both, {
    kind: "usage-error",
    message: "--check-config and --reset-meter-history cannot be combined",
  });
});

Deno.test("help, version and unknown options", () => {
  assert.deepEqual(parseCli(["--help"]), { kind: "help" });
  assert.deepEqual(parseCli(["-V"]), { kind: "version" });
  const bad = parseCli(["--colour"]);
  assert.equal(bad.kind, "usage-error");
  assert.match((bad as { message: string }).message, /--colour/);
  assert.equal(parseCli(["stray"]).kind, "usage-error");
});

Deno.test("--workers selects workers; unknown or empty names are usage errors", () => {
  assert.deepEqual(parseCli(["--workers", "proxy, http,proxy"]), {
    kind: "run",
    configPath: "./config.yaml",
    workers: ["proxy", "http"],
  });
  assert.deepEqual(parseCli(["--workers", "config_sender"]), {
    kind: "run",
    configPath: "./config.yaml",
    workers: ["config_sender"],
  });
  const unknown = parseCli(["--workers", "proxy,broker"]);
  assert.equal(unknown.kind, "usage-error");
  assert.match(
    (unknown as { message: string }).message,
    /unknown "broker"; choose from proxy, config_sender, http/,
  );
  assert.equal(parseCli(["--workers", ""]).kind, "usage-error");
});
