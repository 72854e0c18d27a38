/**
 * The shipped systemd units (deploy/systemd/): `systemd-analyze verify`
 * accepts them as installed, and `systemd-analyze security --offline` rates
 * each at an exposure of at most 2.0. The exposure is printed.
 */
import assert from "node:assert/strict";
import { runOk } from "../helpers/command.ts";
import { systemdAnalyze, UNIT_DIR, unitSettings } from "../helpers/systemd_unit.ts";

const BRIDGE = "kpm33b-bridge.service";
const MOSQUITTO = "kpm33b-mosquitto.service";
const MAX_EXPOSURE = 2.0;
/** Programs the units start; `verify` checks that they exist and are executable. */
const PROGRAMS = [
  "usr/local/bin/kpm33b-bridge",
  "usr/local/bin/deno",
  "usr/sbin/mosquitto",
  "bin/kill",
];

/**
 * A file system root with systemd's own units, stand-ins for the programs
 * (absent ones left out) and the shipped units installed as install.sh does.
 */
async function installedRoot(
  options: { dropIn?: boolean; without?: string[]; edit?: (unit: string) => string } = {},
): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "kpm33b-units-" });
  await Deno.mkdir(`${root}/usr/lib/systemd`, { recursive: true });
  await runOk("cp", ["-a", "/usr/lib/systemd/system", `${root}/usr/lib/systemd/`]);
  for (const program of PROGRAMS.filter((p) => !options.without?.includes(p))) {
    const path = `${root}/${program}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, "#!/bin/sh\n", { mode: 0o755 });
  }
  const units = `${root}/etc/systemd/system`;
  await Deno.mkdir(`${units}/${BRIDGE}.d`, { recursive: true });
  for (const unit of [BRIDGE, MOSQUITTO]) {
    const text = await Deno.readTextFile(`${UNIT_DIR}${unit}`);
    await Deno.writeTextFile(`${units}/${unit}`, options.edit?.(text) ?? text);
  }
  if (options.dropIn) {
    await Deno.copyFile(
      `${UNIT_DIR}${BRIDGE}.d/deno-run.conf`,
      `${units}/${BRIDGE}.d/deno-run.conf`,
    );
  }
  return root;
}

async function verify(root: string, ...units: string[]) {
  try {
    return await systemdAnalyze(["verify", `--root=${root}`, ...units]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("systemd-analyze verify accepts the bridge (compiled binary) and the Mosquitto unit", async () => {
  const result = await verify(await installedRoot(), BRIDGE, MOSQUITTO);
  assert.equal(result.output, "");
  assert.equal(result.code, 0);
});

Deno.test("systemd-analyze verify accepts the bridge with the deno run drop-in, which starts deno", async () => {
  const withDeno = await verify(await installedRoot({ dropIn: true }), BRIDGE);
  assert.equal(withDeno.output, "");
  assert.equal(withDeno.code, 0);
  // The drop-in is read: without deno (and with the binary present) verify fails.
  const withoutDeno = await verify(
    await installedRoot({ dropIn: true, without: ["usr/local/bin/deno"] }),
    BRIDGE,
  );
  assert.match(withoutDeno.output, /\/usr\/local\/bin\/deno is not executable/);
  assert.notEqual(withoutDeno.code, 0);
});

Deno.test("systemd-analyze verify reports a misspelt setting (the checks above can fail)", async () => {
  const result = await verify(
    await installedRoot({ edit: (unit) => unit.replace("ProtectSystem=", "ProtectSytem=") }),
    BRIDGE,
  );
  assert.match(result.output, /Unknown key( name)? 'ProtectSytem'/);
});

for (const unit of [BRIDGE, MOSQUITTO]) {
  Deno.test(`systemd-analyze security rates ${unit} at an exposure of at most ${MAX_EXPOSURE.toFixed(1)}`, async () => {
    const { output } = await systemdAnalyze([
      "security",
      "--offline=true",
      `${UNIT_DIR}${unit}`,
    ]);
    const match = output.match(/Overall exposure level for (\S+): (\d+\.\d+) (\S+)/);
    assert.ok(match, `no overall exposure in:\n${output}`);
    console.log(
      `systemd-analyze security --offline=true ${unit}: exposure ${match[2]} ${match[3]}`,
    );
    assert.equal(match[1], unit);
    assert.ok(
      Number(match[2]) <= MAX_EXPOSURE,
      `exposure ${match[2]} > ${MAX_EXPOSURE}:\n${output}`,
    );
  });
}

Deno.test("the bridge unit restarts on failure, keeps state and configuration in their directories", async () => {
  const settings = unitSettings(await Deno.readTextFile(`${UNIT_DIR}${BRIDGE}`));
  const one = (key: string) => settings.get(key)?.join(" ");
  assert.equal(one("Restart"), "on-failure");
  assert.equal(one("RestartPreventExitStatus"), "78");
  assert.equal(one("StateDirectory"), "kpm33b");
  assert.equal(one("ConfigurationDirectory"), "kpm33b");
  assert.equal(one("Environment"), "KPM33B_STATE_DIR=/var/lib/kpm33b NO_COLOR=1");
  assert.equal(
    one("ExecStart"),
    "/usr/local/bin/kpm33b-bridge --config ${CONFIGURATION_DIRECTORY}/config.yaml",
  );
});

Deno.test("the bridge unit has the full hardening, and says why each left-out option is left out", async () => {
  const text = await Deno.readTextFile(`${UNIT_DIR}${BRIDGE}`);
  const settings = unitSettings(text);
  const expected: Record<string, string[]> = {
    DynamicUser: ["yes"],
    ProtectSystem: ["strict"],
    ProtectHome: ["yes"],
    PrivateTmp: ["yes"],
    PrivateDevices: ["yes"],
    NoNewPrivileges: ["yes"],
    CapabilityBoundingSet: [],
    AmbientCapabilities: [],
    RestrictAddressFamilies: ["AF_INET AF_INET6 AF_UNIX"],
    SystemCallArchitectures: ["native"],
    SystemCallFilter: ["@system-service", "@pkey", "~@privileged @resources"],
    LockPersonality: ["yes"],
    RestrictNamespaces: ["yes"],
    RestrictRealtime: ["yes"],
    RestrictSUIDSGID: ["yes"],
    ProtectKernelTunables: ["yes"],
    ProtectKernelModules: ["yes"],
    ProtectControlGroups: ["yes"],
  };
  for (const [key, value] of Object.entries(expected)) {
    assert.deepEqual(settings.get(key), value, key);
  }
  for (const omitted of ["MemoryDenyWriteExecute", "PrivateNetwork", "IPAddressDeny"]) {
    assert.equal(settings.has(omitted), false, omitted);
    assert.match(text, new RegExp(`^# .*${omitted}[:,]`, "m"), `no comment on ${omitted}`);
  }
});

Deno.test("the deno run drop-in replaces ExecStart with deno task start, the command README gives", async () => {
  const base = await Deno.readTextFile(`${UNIT_DIR}${BRIDGE}`);
  const dropIn = await Deno.readTextFile(`${UNIT_DIR}${BRIDGE}.d/deno-run.conf`);
  const settings = unitSettings(`${base}\n${dropIn}`);
  assert.deepEqual(settings.get("ExecStart"), [
    "/usr/local/bin/deno task --quiet start --config ${CONFIGURATION_DIRECTORY}/config.yaml",
  ]);
  assert.equal(settings.get("WorkingDirectory")?.[0], "/opt/kpm33b-bridge");
  assert.equal(settings.get("KillMode")?.[0], "mixed");
});

Deno.test("the Mosquitto unit runs the installed internal.conf as Debian's mosquitto user", async () => {
  const settings = unitSettings(await Deno.readTextFile(`${UNIT_DIR}${MOSQUITTO}`));
  assert.deepEqual(settings.get("ExecStart"), [
    "/usr/sbin/mosquitto -c /etc/kpm33b/mosquitto/internal.conf",
  ]);
  assert.deepEqual(settings.get("User"), ["mosquitto"]);
  assert.deepEqual(settings.get("StateDirectory"), ["kpm33b-mosquitto"]);
  assert.deepEqual(settings.get("MemoryDenyWriteExecute"), ["yes"]);
  assert.deepEqual(settings.get("Before"), ["kpm33b-bridge.service"]);
});
