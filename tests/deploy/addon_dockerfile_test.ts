/**
 * deploy/home-assistant-addon/Dockerfile without a container engine: its
 * instructions are checked against `deno task start`, build.yaml and
 * repository.yaml, and its build steps are replayed in a temporary directory,
 * the release archive the ADD downloads made from this working tree. The
 * image's ENTRYPOINT then runs there, with the build's DENO_DIR read-only,
 * against a fake Supervisor, and bridges a reading to the broker it names.
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import denoJson from "../../deno.json" with { type: "json" };
import type { MeterId } from "../../src/protocol/meter_id.ts";
import { SimulatedMeter } from "../../src/simulator/simulated_meter.ts";
import { fakeSupervisor, passwordMosquitto, runAddon, SERVICE_ACCOUNT } from "../helpers/addon.ts";
import { runOk } from "../helpers/command.ts";
import { startFlags } from "../helpers/deno_tasks.ts";
import { TestClient } from "../helpers/mqtt_client.ts";

const PROJECT = new URL("../../", import.meta.url);
const ADDON = "deploy/home-assistant-addon";
const read = (path: string) => Deno.readTextFileSync(new URL(path, PROJECT));

interface Instruction {
  readonly keyword: string;
  readonly value: string;
}

const dockerfile: Instruction[] = read(`${ADDON}/Dockerfile`).replace(/\\\n/g, " ").split("\n")
  .map((line) => line.trim())
  .filter((line) => line !== "" && !line.startsWith("#"))
  .map((line) => {
    const [keyword = ""] = line.split(/\s/, 1);
    return { keyword: keyword.toUpperCase(), value: line.slice(keyword.length).trim() };
  });
const all = (keyword: string) =>
  dockerfile.filter((i) => i.keyword === keyword).map((i) => i.value);
const addonConfig = parseYaml(read(`${ADDON}/config.yaml`));
const build = parseYaml(read(`${ADDON}/build.yaml`));
const repository = parseYaml(read("repository.yaml"));

/** The build arguments as the Supervisor passes them (apps/build.py) over the ARG defaults. */
const args: Record<string, string> = {
  ...Object.fromEntries(
    all("ARG").map((value) => value.split("=", 2)).map(([name, value]) => [name, value ?? ""]),
  ),
  BUILD_FROM: build.build_from.amd64,
  BUILD_VERSION: String(addonConfig.version),
  BUILD_ARCH: "amd64",
};
const expand = (text: string) =>
  text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => args[a ?? b] ?? "");

Deno.test("the image runs the add-on entry with deno task start's flags, on build.yaml's base image", () => {
  assert.deepEqual(all("ENTRYPOINT").map((value) => JSON.parse(value)), [[
    "deno",
    "run",
    ...startFlags(),
    "src/addon/start.ts",
  ]]);
  assert.deepEqual(all("FROM"), ["${BUILD_FROM}"]);
  const defaults = Object.fromEntries(all("ARG").map((value) => value.split("=", 2)));
  // A build without build.yaml (newer Supervisors pass no BUILD_FROM) uses the same image.
  assert.equal(defaults.BUILD_FROM, `docker.io/denoland/deno:${Deno.version.deno}`);
  assert.equal(defaults.BRIDGE_REPOSITORY, repository.url);
  assert.equal(addonConfig.version, denoJson.version);
  assert.deepEqual(all("ADD").map(expand), [
    `${repository.url}/archive/refs/tags/v${denoJson.version}.tar.gz bridge.tar.gz`,
  ]);
  assert.deepEqual(all("WORKDIR"), ["/app"]);
  assert.equal(all("USER").length, 0, "root: /data belongs to root");
});

/** The release archive of this working tree, as the forge serves a tag: one top folder. */
async function releaseArchive(destination: string): Promise<void> {
  const { stdout } = await new Deno.Command("git", {
    args: ["ls-files", "--cached", "--others", "--exclude-standard"],
    cwd: PROJECT.pathname,
  }).output();
  const files: string[] = [];
  for (const path of new TextDecoder().decode(stdout).split("\n")) {
    if (path === "") continue;
    try {
      await Deno.stat(new URL(path, PROJECT));
      files.push(path);
    } catch {
      continue; // deleted in the working tree
    }
  }
  const list = `${destination}.files`;
  await Deno.writeTextFile(list, files.join("\n") + "\n");
  await runOk("tar", [
    "-czf",
    destination,
    `--transform=s,^,kpm33b-bridge-${denoJson.version}/,`,
    "-T",
    list,
  ], { cwd: PROJECT.pathname });
  await Deno.remove(list);
}

Deno.test("the Dockerfile's build steps leave all the add-on needs, and its entry bridges to Home Assistant's broker", async () => {
  const root = await Deno.makeTempDir({ prefix: "kpm33b-addon-image-" });
  const app = `${root}/app`;
  const denoDir = `${root}/deno-dir`;
  try {
    await Deno.mkdir(app);
    for (const step of dockerfile) {
      if (step.keyword === "ADD") {
        const [, destination] = expand(step.value).split(/\s+/);
        await releaseArchive(`${app}/${destination}`);
      } else if (step.keyword === "RUN") {
        await runOk("sh", ["-c", step.value.replace(/(^|&& )deno /g, `$1"${Deno.execPath()}" `)], {
          cwd: app,
          env: { DENO_DIR: denoDir },
        });
      }
    }
    const entries = [...Deno.readDirSync(app)].map((entry) => entry.name).sort();
    assert.deepEqual(entries, ["deno.json", "deno.lock", "main.ts", "node_modules", "src"]);

    await using broker = await passwordMosquitto();
    const token = "0123456789abcdef0123456789abcdef";
    await using supervisor = fakeSupervisor(token, {
      host: "127.0.0.1",
      port: broker.port,
      ...SERVICE_ACCOUNT,
    });
    await using central = await TestClient.connect(broker.url, undefined, SERVICE_ACCOUNT);
    const meterId = "33B1225950027" as MeterId;
    await central.subscribe(`kpm33b/${meterId}/seconds`);
    const [program, ...entryArgs] = JSON.parse(all("ENTRYPOINT")[0] ?? "[]") as string[];
    assert.equal(program, "deno");
    // DENO_DIR read-only: what the build cached is all the entry needs.
    const readOnly = 'mount --bind "$DENO_DIR" "$DENO_DIR" && ' +
      'mount -o remount,bind,ro "$DENO_DIR" && exec "$@"';
    await using addon = await runAddon(
      {
        program: "unshare",
        args: ["-m", "sh", "-c", readOnly, "sh", Deno.execPath(), ...entryArgs],
        cwd: app,
      },
      { meter_password: "meter secret" },
      supervisor.url,
      { SUPERVISOR_TOKEN: token, DENO_DIR: denoDir, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    );
    await addon.listening();
    const meter = await SimulatedMeter.start({
      url: `mqtt://127.0.0.1:${addon.metersPort}`,
      id: meterId,
      username: "meter",
      password: "meter secret",
      timeZone: "UTC",
      autoPublish: false,
    });
    try {
      await meter.publishInstant();
      await central.waitFor((received) => received.length > 0, "a reading on central", 30_000);
    } finally {
      await meter.stop();
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
