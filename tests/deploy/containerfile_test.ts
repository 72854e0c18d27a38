/**
 * `deploy/Containerfile` without a container engine: its instructions are
 * checked against `deno task start` and the Helm chart, and its build steps
 * (the COPYs into the working directory and the `deno` RUNs) are replayed in a
 * temporary directory. The bridge then runs the image's ENTRYPOINT with that
 * directory and the build's DENO_DIR mounted read-only, as under
 * `readOnlyRootFilesystem`, and bridges a reading: what the build caches is
 * all it needs.
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { runOk } from "../helpers/command.ts";
import { startFlags } from "../helpers/deno_tasks.ts";
import { smokeTest } from "../helpers/smoke.ts";

const PROJECT = new URL("../../", import.meta.url);

/** One instruction of a Containerfile, continuation lines joined. */
interface Instruction {
  readonly keyword: string;
  readonly value: string;
}

function instructions(text: string): Instruction[] {
  return text.replace(/\\\n/g, " ").split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const [keyword = ""] = line.split(/\s/, 1);
      return { keyword: keyword.toUpperCase(), value: line.slice(keyword.length).trim() };
    });
}

const containerfile = instructions(
  Deno.readTextFileSync(new URL("deploy/Containerfile", PROJECT)),
);
const all = (keyword: string) =>
  containerfile.filter((i) => i.keyword === keyword).map((i) => i.value);
const one = (keyword: string) => {
  const values = all(keyword);
  assert.equal(values.length, 1, `one ${keyword} in the Containerfile: ${values.join(" | ")}`);
  return values[0]!;
};
const entrypoint: string[] = JSON.parse(one("ENTRYPOINT"));
const workdir = one("WORKDIR");
const env = Object.fromEntries(
  all("ENV").flatMap((value) => value.split(/\s+/)).map((pair) => pair.split("=", 2)),
);

Deno.test("the image runs deno task start's command on its Deno version, unprivileged, state in a volume", () => {
  assert.deepEqual(entrypoint, [
    "deno",
    "run",
    ...startFlags(),
    "main.ts",
    "--config",
    "/etc/kpm33b/config.yaml",
  ]);
  assert.equal(one("FROM"), `docker.io/denoland/deno:${Deno.version.deno}`);
  assert.equal(one("USER"), "deno");
  assert.equal(env.KPM33B_STATE_DIR, "/var/lib/kpm33b");
  assert.equal(one("VOLUME"), env.KPM33B_STATE_DIR);
  assert.equal(workdir, "/app");
});

Deno.test("the Helm chart runs the image with its state directory and its deno user's uid", () => {
  const values = parseYaml(
    Deno.readTextFileSync(new URL("deploy/helm/kpm33b-bridge/values.yaml", PROJECT)),
  );
  assert.equal(values.config.state_dir, env.KPM33B_STATE_DIR);
  // The uid of `deno` in the official Deno images.
  assert.equal(values.podSecurityContext.runAsUser, 1993);
  assert.equal(values.podSecurityContext.fsGroup, 1993);
  assert.equal(values.mosquitto.securityContext.runAsUser, 1993);
});

Deno.test("the Containerfile's build steps leave all the bridge needs to run from a read-only tree", async () => {
  const root = await Deno.makeTempDir({ prefix: "kpm33b-image-" });
  const app = `${root}/app`;
  const denoDir = `${root}/deno-dir`;
  try {
    await Deno.mkdir(app);
    for (const step of containerfile) {
      if (step.keyword === "COPY") {
        const words = step.value.split(/\s+/).filter((word) => !word.startsWith("--"));
        const destination = words.pop()!;
        // Files outside the working directory (the default configuration) are
        // not the application tree.
        if (destination.startsWith("/")) continue;
        await runOk("cp", ["-R", ...words, `${app}/${destination}`], { cwd: PROJECT.pathname });
      } else if (step.keyword === "RUN" && step.value.startsWith("deno ")) {
        await runOk("sh", ["-c", step.value.replace(/^deno /, `"${Deno.execPath()}" `)], {
          cwd: app,
          env: { DENO_DIR: denoDir },
        });
      }
    }
    const [program, ...args] = entrypoint.slice(0, entrypoint.indexOf("--config"));
    assert.equal(program, "deno");
    const readOnly = 'mount --bind "$APP" "$APP" && mount -o remount,bind,ro "$APP" && ' +
      'mount --bind "$DENO_DIR" "$DENO_DIR" && mount -o remount,bind,ro "$DENO_DIR" && ' +
      'exec "$@"';
    await smokeTest({
      program: "unshare",
      args: ["-m", "sh", "-c", readOnly, "sh", Deno.execPath(), ...args],
      cwd: app,
      env: { ...env, APP: app, DENO_DIR: denoDir },
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
