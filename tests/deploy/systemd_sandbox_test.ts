/**
 * The bridge and Mosquitto inside their units' sandboxes, rebuilt as far as
 * they can be without systemd running: installed by `deploy/install.sh`,
 * started with the unit's command line, environment and working directory,
 * as an unprivileged user without capabilities and with no_new_privs
 * (DynamicUser= or User=, CapabilityBoundingSet=, NoNewPrivileges=), with
 * /proc as ProcSubset=pid and ProtectProc=invisible show it, and traced by
 * strace. Each serves real clients; then every system call it made must be
 * one the unit's SystemCallFilter= allows, and every socket it opened of a
 * family in RestrictAddressFamilies=. A call outside the filter would be
 * refused under systemd, so this is where a new dependency, Deno or Mosquitto
 * version that needs more shows up.
 */
import assert from "node:assert/strict";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { SimulatedMeter } from "../../src/simulator/simulated_meter.ts";
import { runOk } from "../helpers/command.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { freePort, waitForPort } from "../helpers/ports.ts";
import { allowedSyscalls, UNIT_DIR, unitSettings } from "../helpers/systemd_unit.ts";
import { until } from "../helpers/wait.ts";

const PROJECT = new URL("../../", import.meta.url).pathname;
const METER = "33B1225950027" as MeterId;

/** System call names and socket families in strace output, from the exec of `program` on. */
function tracedCalls(
  trace: string,
  program: string,
): { calls: Set<string>; families: Set<string> } {
  const lines = trace.split("\n");
  const start = lines.findIndex((line) => line.includes(`execve("${program}"`));
  assert.ok(start >= 0, `no execve of ${program} in the trace`);
  const calls = new Set<string>();
  const families = new Set<string>();
  for (const line of lines.slice(start)) {
    const [, call] = line.match(/^\d+\s+([a-z0-9_]+)\(/) ?? [];
    if (call !== undefined) calls.add(call);
    const [, family] = line.match(/^\d+\s+socket\((AF_[A-Z0-9]+)/) ?? [];
    if (family !== undefined) families.add(family);
  }
  return { calls, families };
}

/** The first value of a unit's setting; the test fails when the unit has none. */
function setting(unit: Map<string, string[]>, key: string): string {
  const [value] = unit.get(key) ?? [];
  assert.ok(value !== undefined, `the unit sets ${key}=`);
  return value;
}

/** A unit's absolute paths moved into an installation root. */
function rootedIn(root: string): (value: string) => string {
  return (value) =>
    value.replace("${CONFIGURATION_DIRECTORY}", "/etc/kpm33b").replace(
      /(^|\s|=)\//gm,
      `$1${root}/`,
    );
}

/** A process started as a unit would start it, traced; see the module doc. */
interface Sandboxed {
  readonly child: Deno.ChildProcess;
  readonly trace: string;
  output(): string;
  /** Both output streams read to their end. */
  readonly drained: Promise<unknown>;
}

/**
 * Starts `command` under strace in a new mount namespace with /proc mounted
 * as `ProcSubset=pid` and `ProtectProc=invisible` make it, as `user` without
 * capabilities and with no_new_privs.
 */
function sandboxed(
  command: string[],
  options: { user: string; group: string; cwd: string; env: Record<string, string>; trace: string },
): Sandboxed {
  const sandbox = "mount -t proc -o subset=pid,hidepid=invisible proc /proc && " +
    `exec setpriv --reuid=${options.user} --regid=${options.group} --clear-groups ` +
    '--no-new-privs --inh-caps=-all --bounding-set=-all "$@"';
  const child = new Deno.Command("strace", {
    args: [
      "-f",
      "-qq",
      "-o",
      options.trace,
      "unshare",
      "-m",
      "sh",
      "-c",
      sandbox,
      "sh",
      ...command,
    ],
    cwd: options.cwd,
    clearEnv: true,
    env: { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: "/nonexistent", ...options.env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
  };
  return {
    child,
    trace: options.trace,
    output: () => output,
    drained: Promise.all([pump(child.stdout), pump(child.stderr)]),
  };
}

/**
 * Every system call in the trace from the exec of `program` on is one the
 * unit's `SystemCallFilter=` allows, and every socket is of a family in its
 * `RestrictAddressFamilies=`.
 */
async function assertTraceWithinUnit(
  trace: string,
  program: string,
  unit: Map<string, string[]>,
): Promise<void> {
  const { calls, families } = tracedCalls(await Deno.readTextFile(trace), program);
  const allowed = await allowedSyscalls(unit.get("SystemCallFilter")!);
  const refused = [...calls].filter((call) => !allowed.has(call)).sort();
  assert.deepEqual(
    refused,
    [],
    `system calls SystemCallFilter= would refuse: ${refused.join(", ")}`,
  );
  assert.ok(
    calls.has("epoll_wait") || calls.has("epoll_pwait"),
    "the trace holds the event loop",
  );
  const allowedFamilies = new Set(unit.get("RestrictAddressFamilies")!.join(" ").split(" "));
  const refusedFamilies = [...families].filter((family) => !allowedFamilies.has(family)).sort();
  assert.deepEqual(refusedFamilies, [], "socket families RestrictAddressFamilies= would refuse");
  assert.ok(families.has("AF_INET"), "the trace holds the sockets");
}

/** The sandbox and the given pids killed, its streams drained. */
async function killAll(box: Sandboxed, pids: (number | undefined)[]): Promise<void> {
  for (const pid of [...pids, box.child.pid]) {
    if (pid === undefined || Number.isNaN(pid)) continue;
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // already exited
    }
  }
  await box.child.status;
  await box.drained;
}

Deno.test("in the unit's sandbox the bridge bridges a reading using only allowed system calls and socket families", async () => {
  const root = await Deno.makeTempDir({ prefix: "kpm33b-sandbox-" });
  // The unprivileged user must reach the installation inside it.
  await Deno.chmod(root, 0o755);
  const [internal, central, http] = [freePort(), freePort(), freePort()];
  await Deno.mkdir(`${root}/etc/kpm33b`, { recursive: true });
  await Deno.writeTextFile(
    `${root}/etc/kpm33b/config.yaml`,
    [
      `internal_broker: { url: "mqtt://127.0.0.1:${internal}", embedded: { enabled: true } }`,
      `central_broker: { url: "mqtt://127.0.0.1:${central}", embedded: { enabled: true, host: 127.0.0.1 } }`,
      "state_dir: ${KPM33B_STATE_DIR}",
      `http: { host: 127.0.0.1, port: ${http} }`,
      "logging: { format: json }",
      "",
    ].join("\n"),
  );
  let box: Sandboxed | undefined;
  let bridgePid: number | undefined;
  try {
    await runOk("sh", [`${PROJECT}deploy/install.sh`, "--root", root, "--deno", "--no-start"]);
    await Deno.mkdir(`${root}/var/lib/kpm33b`, { recursive: true });
    await runOk("chown", ["nobody:nogroup", `${root}/var/lib/kpm33b`]);

    const unit = unitSettings(
      (await Deno.readTextFile(`${UNIT_DIR}kpm33b-bridge.service`)) + "\n" +
        (await Deno.readTextFile(`${UNIT_DIR}kpm33b-bridge.service.d/deno-run.conf`)),
    );
    const rooted = rootedIn(root);
    const execStart = rooted(setting(unit, "ExecStart")).split(" ");
    const env = Object.fromEntries(
      unit.get("Environment")!.flatMap((line) => line.split(" ")).map((pair) => {
        const [key, value = ""] = pair.split("=");
        return [key, rooted(value)];
      }),
    );
    // DynamicUser= runs it as a user of its own: nobody stands in here.
    const sandbox = sandboxed(execStart, {
      user: "nobody",
      group: "nogroup",
      cwd: rooted(setting(unit, "WorkingDirectory")),
      env,
      trace: `${root}/strace.txt`,
    });
    box = sandbox;
    const exited = sandbox.child.status;

    await until(() => /Bridge state online/.test(sandbox.output()), "the bridge online", 90_000)
      .catch((error) => {
        throw new Error(`${error.message}; output:\n${sandbox.output()}`);
      });
    bridgePid = Number(sandbox.output().match(/"pid":(\d+)/)?.[1]);
    assert.ok(bridgePid > 0, `no pid in the log:\n${sandbox.output()}`);

    await using consumer = await TestClient.connect(`mqtt://127.0.0.1:${central}`);
    await consumer.subscribe(`kpm33b/${METER}/seconds`);
    const meter = await SimulatedMeter.start({
      url: `mqtt://127.0.0.1:${internal}`,
      id: METER,
      timeZone: "UTC",
      autoPublish: false,
    });
    try {
      await meter.publishInstant();
      await consumer.waitFor((r) => r.length > 0, "the reading on central", 30_000);
    } finally {
      await meter.stop();
    }
    const health = await fetch(`http://127.0.0.1:${http}/healthz`);
    assert.equal(health.status, 200, await health.text());

    // strace passes no signal on to its tracee: the bridge gets it directly.
    Deno.kill(bridgePid, "SIGTERM");
    const killer = setTimeout(() => sandbox.child.kill("SIGKILL"), 20_000);
    const status = await exited;
    clearTimeout(killer);
    await sandbox.drained;
    assert.equal(status.code, 0, `exit code ${status.code}:\n${sandbox.output()}`);
    await assertTraceWithinUnit(sandbox.trace, execStart[0] ?? "", unit);
  } finally {
    if (box !== undefined) await killAll(box, [bridgePid]);
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("in its unit's sandbox Mosquitto as the meters' broker serves a client using only allowed system calls and socket families", async () => {
  const root = await Deno.makeTempDir({ prefix: "kpm33b-sandbox-" });
  await Deno.chmod(root, 0o755);
  const port = freePort();
  let mosquittoPid: number | undefined;
  await Deno.mkdir(`${root}/etc/kpm33b`, { recursive: true });
  await Deno.writeTextFile(
    `${root}/etc/kpm33b/config.yaml`,
    [
      `internal_broker: { url: "mqtt://127.0.0.1:${port}", username: bridge, password: bridge-pw }`,
      "central_broker: { url: 'mqtt://127.0.0.1:1' }",
      "",
    ].join("\n"),
  );
  let box: Sandboxed | undefined;
  try {
    await runOk("sh", [
      `${PROJECT}deploy/install.sh`,
      "--root",
      root,
      "--deno",
      "--mosquitto",
      "--no-start",
    ]);
    const unit = unitSettings(await Deno.readTextFile(`${UNIT_DIR}kpm33b-mosquitto.service`));
    const rooted = rootedIn(root);
    const conf = `${root}/etc/kpm33b/mosquitto/internal.conf`;
    // The installed configuration's absolute paths, and a free port.
    await Deno.writeTextFile(
      conf,
      rooted((await Deno.readTextFile(conf)).replace(/^listener 11883$/m, `listener ${port}`)),
    );
    const data = `${root}/var/lib/kpm33b-mosquitto`;
    await Deno.mkdir(data, { recursive: true });
    await runOk("chown", ["mosquitto:mosquitto", data]);
    // Debian's Mosquitto itself, with the installed configuration.
    const [program = "", ...args] = setting(unit, "ExecStart").split(" ");
    const execStart = [program, ...args.map(rooted)];
    const sandbox = sandboxed(execStart, {
      user: setting(unit, "User"),
      group: setting(unit, "Group"),
      cwd: "/",
      env: {},
      trace: `${root}/strace.txt`,
    });
    box = sandbox;
    const exited = sandbox.child.status;
    await waitForPort(port, 30_000).catch(async (error) => {
      const trace = (await Deno.readTextFile(sandbox.trace)).split("\n").slice(-30).join("\n");
      throw new Error(`${error.message}; output:\n${sandbox.output()}\ntrace (tail):\n${trace}`);
    });
    await using client = await TestClient.connect(
      `mqtt://bridge:bridge-pw@127.0.0.1:${port}`,
      "kpm33b-bridge-test",
    );
    await client.subscribe("MQTT_RT_DATA");
    await client.publish("MQTT_RT_DATA", "{}");
    await client.waitFor((r) => r.length > 0, "its own message back", 10_000);
    await client[Symbol.asyncDispose]();

    mosquittoPid = Number((await runOk("pgrep", ["-u", "mosquitto", "-f", conf])).trim());
    assert.ok(mosquittoPid > 0, "Mosquitto's pid");
    Deno.kill(mosquittoPid, "SIGTERM");
    const status = await exited;
    await sandbox.drained;
    assert.equal(status.code, 0, `exit code ${status.code}:\n${sandbox.output()}`);
    await assertTraceWithinUnit(sandbox.trace, program, unit);
  } finally {
    if (box !== undefined) await killAll(box, [mosquittoPid]);
    await Deno.remove(root, { recursive: true });
  }
});
