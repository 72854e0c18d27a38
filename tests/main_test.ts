/** The bridge's command line, run as users run it: `deno task start …`. */
import assert from "node:assert/strict";
import { runTaskStart, startBridge } from "./helpers/bridge.ts";
import { freePort } from "./helpers/ports.ts";
import { until } from "./helpers/wait.ts";

Deno.test("--check-config accepts the shipped config.yaml", async () => {
  const { code, stdout } = await runTaskStart(["--check-config"], { TZ: "UTC" });
  assert.equal(code, 0);
  assert.match(stdout, /config\.yaml is valid/);
  assert.match(stdout, /meter time zone: UTC/, "this machine's zone (TZ=UTC here)");
});

Deno.test("--check-config rejects a bad file with file:line, key, value and allowed values (exit 78)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config.yaml`;
    await Deno.writeTextFile(
      path,
      "central_broker:\n  url: mqtt://u:secret@127.0.0.1:1883\nmeters:\n  upload_interval_seconds: 45\n",
    );
    const { code, stdout, stderr } = await runTaskStart(["--config", path, "--check-config"]);
    assert.equal(code, 78);
    assert.equal(stdout, "");
    assert.match(
      stderr,
      new RegExp(
        `${path}:4:28 meters\\.upload_interval_seconds: 45 is not one of 30, 60, 300, 600, 900, 1200, 1800, 3600`,
      ),
    );
    assert.doesNotMatch(stderr, /secret/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a missing config file is reported, not thrown", async () => {
  const { code, stderr } = await runTaskStart(["--config", "/nonexistent/kpm33b.yaml"]);
  assert.equal(code, 78);
  assert.match(stderr, /\/nonexistent\/kpm33b\.yaml: file not found/);
});

Deno.test("an embedded broker that cannot listen stops the bridge (exit 69) instead of running without it", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = taken.addr as Deno.NetAddr;
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config.yaml`;
    await Deno.writeTextFile(
      path,
      `internal_broker: { url: "mqtt://127.0.0.1:${port}", embedded: { enabled: true } }\n` +
        `state_dir: ${dir}/state\n`,
    );
    const { code, stdout } = await runTaskStart(["--config", path]);
    assert.equal(code, 69);
    assert.match(stdout, new RegExp(`127\\.0\\.0\\.1:${port} is already in use`));
    assert.match(stdout, /Could not start internal_broker \(see above\); exiting/);
    assert.doesNotMatch(stdout, /Worker proxy started/);
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a second bridge on the same state_dir exits at start (exit 75), naming the directory and the holder", async () => {
  const port = Deno.listen({ hostname: "127.0.0.1", port: 0 }) as Deno.Listener;
  const { port: closed } = port.addr as Deno.NetAddr;
  port.close();
  // Brokers nobody listens on: the first bridge keeps trying, and holds its state_dir meanwhile.
  await using first = await startBridge(
    `internal_broker: { url: "mqtt://127.0.0.1:${closed}" }\n` +
      `central_broker: { url: "mqtt://127.0.0.1:${closed}" }\n` +
      "logging: { format: json, level: info }\n",
  );
  await first.waitForLog((l) => /Worker proxy started/.test(String(l.message)), "proxy started");
  const stateDir = first.configPath.replace(/config\.yaml$/, "state");
  const second = await runTaskStart(["--config", first.configPath]);
  assert.equal(second.code, 75);
  assert.match(
    second.stderr,
    new RegExp(
      `${stateDir}/proxy\\.lock is held by another bridge process \\(pid ${first.bridgePid()} since [^)]+\\): each bridge needs its own state_dir`,
    ),
  );
  assert.equal(second.stdout, "", "nothing started");
  const { code } = await first.stop();
  assert.equal(code, 0, "the first bridge was not disturbed");
});

Deno.test("the shipped configuration starts and stops cleanly: no warning, no error", async () => {
  const state = await Deno.makeTempDir({ prefix: "kpm33b-clean-" });
  try {
    await using bridge = await startBridge(
      await Deno.readTextFile(new URL("../config.yaml", import.meta.url)),
      {
        KPM33B_INTERNAL_PORT: String(freePort()),
        KPM33B_CENTRAL_PORT: String(freePort()),
        KPM33B_HTTP_PORT: String(freePort()),
        KPM33B_STATE_DIR: state,
      },
    );
    await until(() => /Bridge state online/.test(bridge.output()), "the bridge online", 30_000);
    const { code } = await bridge.stop();
    assert.equal(code, 0);
    assert.match(bridge.output(), /Stopped/);
    const complaints = bridge.output().split("\n").filter((line) => /\[(WRN|ERR|FTL)\]/.test(line));
    assert.deepEqual(complaints, []);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("--check-config accepts a timeout meters would flap with, and warns about it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config.yaml`;
    await Deno.writeTextFile(path, "meters:\n  availability_timeout_seconds: 30\n");
    const { code, stdout, stderr } = await runTaskStart(["--config", path, "--check-config"]);
    assert.equal(code, 0);
    assert.match(stdout, /is valid/);
    assert.match(stderr, /^warning: meters\.availability_timeout_seconds: 30 s is not longer/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
