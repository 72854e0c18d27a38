/**
 * `deno task brokers`: run as the task runs it (its flags from deno.json),
 * from a directory holding copies of the shipped Mosquitto files, on free
 * ports.
 */
import assert from "node:assert/strict";
import { TASKS } from "../helpers/deno_tasks.ts";
import { withTempDir } from "../helpers/files.ts";
import { assertMetersBrokerRules } from "../helpers/meters_broker.ts";
import { TestClient } from "../helpers/mqtt_client.ts";
import { freePort } from "../helpers/ports.ts";
import { until } from "../helpers/wait.ts";

const PROJECT = new URL("../../", import.meta.url).pathname;
const SECRETS = {
  KPM33B_METER_PASSWORD: "meter-secret",
  KPM33B_INTERNAL_PASSWORD: "bridge-secret",
};
const MOSQUITTO_CONFIG = [
  "internal_broker:",
  "  url: mqtt://127.0.0.1:11883",
  "  username: bridge",
  "  password: ${KPM33B_INTERNAL_PASSWORD}",
  "  embedded: { enabled: false }",
  '  meter_auth: { password: "${KPM33B_METER_PASSWORD}" }',
  "",
].join("\n");

/** The task's command with the script's path made absolute, for another working directory. */
function taskCommand(): { program: string; args: string[] } {
  const task = TASKS.brokers;
  assert.ok(task !== undefined, "deno.json has a brokers task");
  const [deno, ...args] = task.split(/\s+/);
  assert.equal(deno, "deno");
  return { program: Deno.execPath(), args: args.map((a) => a.endsWith(".ts") ? PROJECT + a : a) };
}

/** Starts the task in `dir`; collects its output. */
function startBrokers(dir: string, args: string[], env: Record<string, string> = SECRETS) {
  const command = taskCommand();
  const child = new Deno.Command(command.program, {
    args: [...command.args, ...args],
    cwd: dir,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  const drained = Promise.all([child.stdout, child.stderr].map(async (stream) => {
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
  }));
  return {
    child,
    output: () => output,
    async exit() {
      const status = await child.status;
      await drained;
      return status.code;
    },
  };
}

async function projectCopy(dir: string, config: string): Promise<void> {
  // Run as root, Mosquitto reads its files as the user mosquitto, which must
  // reach them (temporary directories are private).
  await Deno.chmod(dir, 0o755);
  await Deno.mkdir(`${dir}/mosquitto`);
  for (const name of ["internal.conf", "central.conf"]) {
    await Deno.copyFile(`${PROJECT}mosquitto/${name}`, `${dir}/mosquitto/${name}`);
  }
  await Deno.writeTextFile(`${dir}/config.yaml`, config);
}

/** Mosquitto processes still running in `dir` (their working directory). */
async function leftOver(dir: string): Promise<string[]> {
  const pgrep = await new Deno.Command("pgrep", { args: ["-x", "mosquitto"], stdout: "piped" })
    .output();
  const pids = new TextDecoder().decode(pgrep.stdout).split("\n").filter((pid) => pid !== "");
  const inDir: string[] = [];
  for (const pid of pids) {
    // Deno reads other processes' /proc entries only with --allow-all.
    const cwd = await new Deno.Command("readlink", { args: [`/proc/${pid}/cwd`], stdout: "piped" })
      .output();
    if (new TextDecoder().decode(cwd.stdout).trim() === dir) inDir.push(pid);
  }
  return inDir;
}

Deno.test("deno task brokers runs both shipped brokers, meters authenticated and central anonymous, and Ctrl-C stops both", async () => {
  await withTempDir(async (dir) => {
    await projectCopy(dir, MOSQUITTO_CONFIG);
    const internalPort = freePort();
    const centralPort = freePort();
    const brokers = startBrokers(dir, [
      "--internal-port",
      String(internalPort),
      "--central-port",
      String(centralPort),
    ]);
    try {
      await until(() => /Brokers running/.test(brokers.output()), "both brokers up", 15_000)
        .catch((error) => Promise.reject(new Error(`${error.message}:\n${brokers.output()}`)));
      assert.ok(
        (await Deno.stat(`${dir}/mosquitto/dynamic-security.json`)).isFile,
        "the accounts are written",
      );
      await assertMetersBrokerRules(`mqtt://127.0.0.1:${internalPort}`, SECRETS);

      await using consumer = await TestClient.connect(`mqtt://127.0.0.1:${centralPort}`);
      await consumer.subscribe("kpm33b/#");
      await consumer.publish("kpm33b/bridge/state", "online");
      await consumer.waitFor((r) => r.length === 1, "a message through the central broker");
      assert.equal((await leftOver(dir)).length, 2, "both run from the project directory");
    } finally {
      try {
        brokers.child.kill("SIGINT");
      } catch {
        // exited already: the exit code below says how
      }
    }
    assert.equal(await brokers.exit(), 0, brokers.output());
    assert.match(brokers.output(), /Brokers stopped/);
    assert.match(
      brokers.output(),
      /^\[internal\] \d+: New connection/m,
      "Mosquitto's log, prefixed",
    );
    assert.match(brokers.output(), /^\[central\] \d+: New connection/m);
    assert.doesNotMatch(brokers.output(), /exited with code/);
    assert.deepEqual(await leftOver(dir), [], "no Mosquitto is left running");
  });
});

Deno.test("deno task brokers without Mosquitto accounts in the configuration says what to set (exit 78)", async () => {
  await withTempDir(async (dir) => {
    await projectCopy(dir, await Deno.readTextFile(`${PROJECT}config.yaml`));
    const brokers = startBrokers(dir, [
      "--internal-port",
      String(freePort()),
      "--central-port",
      String(freePort()),
    ], {});
    assert.equal(await brokers.exit(), 78, brokers.output());
    assert.match(
      brokers.output(),
      /internal_broker\.username and internal_broker\.password must be set/,
    );
    assert.match(brokers.output(), /internal_broker\.embedded\.enabled: false/);
    assert.deepEqual(await leftOver(dir), []);
  });
});

Deno.test("deno task brokers refuses a port that is taken (exit 69) instead of starting half", async () => {
  await withTempDir(async (dir) => {
    await projectCopy(dir, MOSQUITTO_CONFIG);
    const taken = Deno.listen({ hostname: "127.0.0.1", port: freePort() });
    try {
      const brokers = startBrokers(dir, [
        "--internal-port",
        String(freePort()),
        "--central-port",
        String((taken.addr as Deno.NetAddr).port),
      ]);
      assert.equal(await brokers.exit(), 69, brokers.output());
      assert.match(brokers.output(), /port \d+ is in use already .* --central-port/);
      assert.deepEqual(await leftOver(dir), []);
    } finally {
      taken.close();
    }
  });
});
