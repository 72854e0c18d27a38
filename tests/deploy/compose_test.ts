/**
 * deploy/compose.yaml: Debian's docker-compose parses and validates it (no
 * container engine is needed for `config`), both variants; the bridge accepts
 * its configuration with the environment Compose gives it; the Mosquitto
 * variant's files work with the real Mosquitto as the container runs it.
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { TASK_START } from "../helpers/bridge.ts";
import { runOk } from "../helpers/command.ts";
import { exists, withTempDir } from "../helpers/files.ts";
import { assertMetersBrokerRules } from "../helpers/meters_broker.ts";
import { freePort, waitForPort } from "../helpers/ports.ts";

const PROJECT = new URL("../../", import.meta.url).pathname;
const DEPLOY = `${PROJECT}deploy`;
const SECRETS = {
  KPM33B_METER_PASSWORD: "meter-secret",
  KPM33B_INTERNAL_PASSWORD: "bridge-secret",
};

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  ports?: { published: number; target: number }[];
  volumes?: string[];
  profiles?: string[];
  user?: string;
  working_dir?: string;
  read_only?: boolean;
  restart?: string;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

/** `docker-compose config` of the given files, parsed. */
async function composeConfig(files: string[], env: Record<string, string> = SECRETS) {
  const output = await runOk(
    "docker-compose",
    [...files.flatMap((file) => ["-f", `${DEPLOY}/${file}`]), "config"],
    // A deploy/.env of the user's must not change what is checked.
    { cwd: DEPLOY, env: { PATH: Deno.env.get("PATH") ?? "", ...env }, clearEnv: true },
  );
  // The first test checks that these are all the services there are.
  return parseYaml(output) as {
    services: Record<"bridge" | "central" | "mosquitto" | "mosquitto-auth", Service>;
    volumes: object;
  };
}

/** Whether the bridge accepts compose/config.yaml with a service's environment. */
async function checkConfig(environment: Record<string, string>): Promise<string> {
  return await runOk(TASK_START.program, [
    ...TASK_START.args,
    "--config",
    `${DEPLOY}/compose/config.yaml`,
    "--check-config",
  ], { cwd: PROJECT, env: environment });
}

Deno.test("compose.yaml: Mosquitto as the meters' broker, fed by the bridge's accounts writer; the bridge with state volume, healthcheck and restart policy", async () => {
  const { services, volumes } = await composeConfig(["compose.yaml"]);
  assert.deepEqual(Object.keys(services).sort(), [
    "bridge",
    "central",
    "mosquitto",
    "mosquitto-auth",
  ]);
  const { bridge, mosquitto, "mosquitto-auth": auth, central } = services;

  assert.deepEqual(bridge.build, {
    context: PROJECT.replace(/\/$/, ""),
    dockerfile: "deploy/Containerfile",
  });
  assert.ok(await exists(`${PROJECT}${bridge.build!.dockerfile}`));
  assert.equal(bridge.restart, "unless-stopped");
  assert.equal(bridge.read_only, true);
  assert.match(bridge.healthcheck!.test.join(" "), /http:\/\/127\.0\.0\.1:8080\/healthz/);
  assert.ok(bridge.volumes!.includes("state:/var/lib/kpm33b:rw"));
  assert.ok(bridge.volumes!.includes(`${DEPLOY}/compose/config.yaml:/etc/kpm33b/config.yaml:ro`));
  assert.deepEqual(bridge.ports, [{ published: 8080, target: 8080 }]);
  assert.deepEqual(Object.keys(volumes).sort(), ["mosquitto", "state"]);

  assert.deepEqual(auth.command, ["--write-mosquitto-auth", "/var/lib/kpm33b"]);
  assert.equal(auth.image, bridge.image, "the accounts writer is the bridge image");
  assert.deepEqual(mosquitto.depends_on, {
    "mosquitto-auth": { condition: "service_completed_successfully" },
  });
  assert.ok(
    mosquitto.volumes!.includes(
      `${PROJECT}mosquitto/internal.conf:/mosquitto/config/internal.conf:ro`,
    ),
  );
  assert.deepEqual(mosquitto.ports, [{ published: 11883, target: 11883 }]);
  assert.equal(mosquitto.restart, "unless-stopped");
  assert.deepEqual(central.profiles, ["demo"], "the demo central broker is opt-in");

  // Every host file mounted into a container exists.
  for (const service of Object.values(services)) {
    for (const volume of service.volumes ?? []) {
      const [source = ""] = volume.split(":");
      if (source.startsWith("/")) assert.ok(await exists(source), `${source} exists`);
    }
  }
});

Deno.test("compose.yaml: a missing password stops Compose with where to set it", async () => {
  await assert.rejects(
    composeConfig(["compose.yaml"], { KPM33B_INTERNAL_PASSWORD: "x" }),
    /set KPM33B_METER_PASSWORD in deploy\/\.env/,
  );
});

Deno.test("compose.embedded.yaml: Mosquitto stays stopped and the bridge's embedded broker takes the meters' port", async () => {
  const { services } = await composeConfig(["compose.yaml", "compose.embedded.yaml"]);
  assert.deepEqual(services.mosquitto.profiles, ["mosquitto"]);
  assert.deepEqual(services["mosquitto-auth"].profiles, ["mosquitto"]);
  assert.equal(services.bridge.profiles, undefined);
  assert.deepEqual(
    services.bridge.ports?.map((port) => port.target).sort((a, b) => a - b),
    [8080, 11883],
  );
  const summary = await checkConfig(services.bridge.environment!);
  assert.match(summary, /internal broker: mqtt:\/\/127\.0\.0\.1:11883/);
});

Deno.test("compose: the bridge accepts compose/config.yaml with the environment Compose gives it", async () => {
  const { services } = await composeConfig(["compose.yaml"]);
  const summary = await checkConfig(services.bridge.environment!);
  assert.match(summary, /internal broker: mqtt:\/\/mosquitto:11883/);
  assert.match(summary, /central broker: +mqtt:\/\/central:1883/);
  await checkConfig(services["mosquitto-auth"].environment!);
});

Deno.test("compose: the accounts writer's file and the shipped internal.conf work with Mosquitto as the container runs it", async () => {
  const { services } = await composeConfig(["compose.yaml"]);
  const auth = services["mosquitto-auth"];
  const mosquitto = services.mosquitto;
  await withTempDir(async (dir) => {
    // The container's volume is <working_dir>/mosquitto; here it is <dir>/mosquitto.
    await runOk(
      TASK_START.program,
      [
        ...TASK_START.args,
        "--config",
        `${DEPLOY}/compose/config.yaml`,
        ...auth.command!,
      ].map((arg) => arg === "/var/lib/kpm33b" ? `${dir}/mosquitto` : arg),
      {
        cwd: PROJECT,
        env: auth.environment,
      },
    );
    // Only the listener port differs from the shipped file (tests pick free ports).
    const port = freePort();
    const conf = (await Deno.readTextFile(`${PROJECT}mosquitto/internal.conf`))
      .replace(/^listener 11883$/m, `listener ${port} 127.0.0.1`);
    assert.notEqual(conf, await Deno.readTextFile(`${PROJECT}mosquitto/internal.conf`));
    await Deno.writeTextFile(`${dir}/internal.conf`, conf);
    const script = mosquitto.entrypoint!.at(-1)!.replace(
      "/mosquitto/config/internal.conf",
      `${dir}/internal.conf`,
    );
    // As in the container: uid and gid 1993 (the bridge image's user, which
    // wrote the files), so Mosquitto starts unprivileged and switches no user.
    const [uid, gid] = mosquitto.user!.split(":");
    await runOk("chown", ["-R", `${uid}:${gid}`, dir]);
    const child = new Deno.Command("setpriv", {
      args: [`--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "sh", "-c", script],
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let failure: unknown;
    try {
      await waitForPort(port, 10_000);
      assert.ok(await exists(`${dir}/mosquitto/data`), "the entrypoint creates the data directory");
      await assertMetersBrokerRules(`mqtt://127.0.0.1:${port}`, SECRETS);
    } catch (error) {
      failure = error;
    }
    try {
      child.kill("SIGTERM");
    } catch {
      // exited already: its output says why
    }
    const { stderr } = await child.output();
    if (failure !== undefined) {
      throw new Error(`${failure}\nMosquitto: ${new TextDecoder().decode(stderr)}`);
    }
    assert.ok(
      await exists(`${dir}/mosquitto/data/mosquitto.db`),
      `Mosquitto saves its persistence in the volume: ${new TextDecoder().decode(stderr)}`,
    );
  });
});
