/**
 * `deploy/install.sh` into a temporary root (`--root`, as for packaging): what
 * it installs and with which modes, that a second run changes nothing and
 * keeps the user's edits, the Mosquitto variant, and both ways to uninstall.
 * The compiled binary is stood in for by a script that runs main.ts with
 * `deno task start`'s flags, so its CLI is the real one.
 */
import assert from "node:assert/strict";
import { startFlags } from "../helpers/deno_tasks.ts";
import { runOk } from "../helpers/command.ts";
import { exists } from "../helpers/files.ts";

const PROJECT = new URL("../../", import.meta.url).pathname;
const INSTALL = `${PROJECT}deploy/install.sh`;

async function install(
  root: string,
  ...args: string[]
): Promise<Deno.CommandOutput & { text: string }> {
  const result = await new Deno.Command("sh", {
    args: [INSTALL, "--root", root, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { ...result, text: decoder.decode(result.stdout) + decoder.decode(result.stderr) };
}

async function installOk(root: string, ...args: string[]): Promise<string> {
  const { code, text } = await install(root, ...args);
  assert.equal(code, 0, `install.sh ${args.join(" ")} exited with ${code}:\n${text}`);
  return text;
}

/** A stand-in for the compiled bridge: the same CLI, run from this tree. */
async function standInBinary(dir: string): Promise<string> {
  const path = `${dir}/kpm33b-bridge`;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\nexec "${Deno.execPath()}" run ${startFlags().join(" ")} "${PROJECT}main.ts" "$@"\n`,
    { mode: 0o755 },
  );
  return path;
}

/** Every file and link under `root`: path → mode and content (or link target). */
async function tree(root: string, dir = root): Promise<Map<string, string>> {
  const result = new Map<string, string>();
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    const key = path.slice(root.length);
    if (entry.isDirectory) {
      for (const [p, v] of await tree(root, path)) result.set(p, v);
    } else if (entry.isSymlink) {
      result.set(key, `-> ${await Deno.readLink(path)}`);
    } else {
      const mode = ((await Deno.stat(path)).mode! & 0o7777).toString(8);
      const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
      result.set(key, `${mode} ${btoa(String.fromCharCode(...new Uint8Array(digest)))}`);
    }
  }
  return result;
}

async function mode(path: string): Promise<string> {
  return ((await Deno.stat(path)).mode! & 0o7777).toString(8);
}

async function withRoot(test: (root: string, work: string) => Promise<void>): Promise<void> {
  const work = await Deno.makeTempDir({ prefix: "kpm33b-install-" });
  try {
    await Deno.mkdir(`${work}/root`);
    await test(`${work}/root`, work);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

Deno.test("install.sh puts the binary, units, configuration and an owner-only secrets file in place and enables the service", async () => {
  await withRoot(async (root, work) => {
    const binary = await standInBinary(work);
    await installOk(root, "--binary", binary, "--no-start");
    assert.equal(await mode(`${root}/usr/local/bin/kpm33b-bridge`), "755");
    assert.equal(
      await Deno.readTextFile(`${root}/etc/systemd/system/kpm33b-bridge.service`),
      await Deno.readTextFile(`${PROJECT}deploy/systemd/kpm33b-bridge.service`),
    );
    assert.equal(
      await Deno.readTextFile(`${root}/etc/kpm33b/config.yaml`),
      await Deno.readTextFile(`${PROJECT}config.yaml`),
    );
    assert.equal(await mode(`${root}/etc/kpm33b/kpm33b.env`), "600");
    assert.equal(await mode(`${root}/etc/kpm33b/config.yaml`), "644");
    assert.ok(await exists(`${root}/usr/local/share/doc/kpm33b-bridge/deploy.md`));
    const wants = `${root}/etc/systemd/system/multi-user.target.wants/kpm33b-bridge.service`;
    assert.ok(await exists(wants), "the service is enabled");
    assert.ok(!(await exists(`${root}/etc/systemd/system/kpm33b-mosquitto.service`)));
    assert.ok(!(await exists(`${root}/etc/systemd/system/kpm33b-bridge.service.d`)));
  });
});

Deno.test("a second run of install.sh changes nothing and keeps the edited configuration and secrets", async () => {
  await withRoot(async (root, work) => {
    const binary = await standInBinary(work);
    await installOk(root, "--binary", binary, "--no-start");
    await Deno.writeTextFile(`${root}/etc/kpm33b/config.yaml`, "# edited\n", { append: true });
    await Deno.writeTextFile(`${root}/etc/kpm33b/kpm33b.env`, "KPM33B_METER_PASSWORD=x\n", {
      append: true,
    });
    const before = await tree(root);
    const again = await installOk(root, "--binary", binary, "--no-start");
    assert.doesNotMatch(again, /installed/, again);
    assert.deepEqual(await tree(root), before);
  });
});

Deno.test("install.sh without a binary says how to build one", async () => {
  await withRoot(async (root, work) => {
    const { code, text } = await install(root, "--binary", `${work}/missing`);
    assert.equal(code, 1);
    assert.match(text, /no bridge binary at .*deno task compile/);
  });
});

Deno.test("install.sh --mosquitto on the shipped configuration says which settings Mosquitto needs", async () => {
  await withRoot(async (root, work) => {
    const { code, text } = await install(
      root,
      "--binary",
      await standInBinary(work),
      "--mosquitto",
      "--no-start",
    );
    assert.equal(code, 1, text);
    assert.match(text, /internal_broker\.username and internal_broker\.password must be set/);
    assert.match(text, /set internal_broker\.embedded\.enabled: false/);
  });
});

Deno.test("install.sh --mosquitto installs the unit, internal.conf with absolute paths, and the accounts from config.yaml, replacing an earlier password file and ACL", async () => {
  await withRoot(async (root, work) => {
    await Deno.mkdir(`${root}/etc/kpm33b`, { recursive: true });
    await Deno.writeTextFile(
      `${root}/etc/kpm33b/config.yaml`,
      [
        "internal_broker:",
        "  url: mqtt://127.0.0.1:11883",
        "  username: bridge",
        "  password: ${KPM33B_INTERNAL_PASSWORD}",
        "  meter_auth: { password: '${KPM33B_METER_PASSWORD}' }",
        "central_broker: { url: 'mqtt://127.0.0.1:1883' }",
        "",
      ].join("\n"),
    );
    await Deno.writeTextFile(
      `${root}/etc/kpm33b/kpm33b.env`,
      "KPM33B_INTERNAL_PASSWORD=bridge-secret\nKPM33B_METER_PASSWORD=meter-secret\n",
      { mode: 0o600 },
    );
    await Deno.mkdir(`${root}/etc/kpm33b/mosquitto`);
    for (const old of ["passwd", "acl"]) {
      await Deno.writeTextFile(`${root}/etc/kpm33b/mosquitto/${old}`, "earlier version\n");
    }
    await installOk(root, "--binary", await standInBinary(work), "--mosquitto", "--no-start");
    for (const old of ["passwd", "acl"]) {
      assert.equal(await exists(`${root}/etc/kpm33b/mosquitto/${old}`), false, old);
    }

    const conf = await Deno.readTextFile(`${root}/etc/kpm33b/mosquitto/internal.conf`);
    assert.match(
      conf,
      /^plugin_opt_config_file \/etc\/kpm33b\/mosquitto\/dynamic-security\.json$/m,
    );
    assert.match(conf, /^persistence_location \/var\/lib\/kpm33b-mosquitto\/$/m);
    const paths = conf.split("\n").filter((line) =>
      /^(plugin_opt_config_file|password_file|acl_file|persistence_location|certfile|keyfile|cafile) /
        .test(line)
    );
    for (const line of paths) assert.match(line, / \//, `not an absolute path: ${line}`);

    const accounts = `${root}/etc/kpm33b/mosquitto/dynamic-security.json`;
    assert.equal(await mode(accounts), "600");
    const users = JSON.parse(await Deno.readTextFile(accounts)).clients
      .map((c: { username: string }) => c.username);
    assert.deepEqual(users.sort(), ["bridge", "meter"]);
    const owner = (await Deno.stat(accounts)).uid;
    const mosquittoUid = new TextDecoder().decode(
      (await new Deno.Command("id", { args: ["-u", "mosquitto"], stdout: "piped" }).output())
        .stdout,
    ).trim();
    assert.equal(String(owner), mosquittoUid, "Mosquitto reads the accounts");
    assert.equal(
      await Deno.readTextFile(`${root}/etc/systemd/system/kpm33b-mosquitto.service`),
      await Deno.readTextFile(`${PROJECT}deploy/systemd/kpm33b-mosquitto.service`),
    );
    assert.ok(
      await exists(`${root}/etc/systemd/system/multi-user.target.wants/kpm33b-mosquitto.service`),
    );
  });
});

Deno.test("uninstall keeps configuration and state; --purge removes them too", async () => {
  await withRoot(async (root, work) => {
    await installOk(root, "--binary", await standInBinary(work), "--no-start");
    await Deno.mkdir(`${root}/var/lib/kpm33b`, { recursive: true });
    await Deno.writeTextFile(`${root}/var/lib/kpm33b/outbox.sqlite`, "");

    await installOk(root, "--uninstall");
    for (
      const gone of [
        "usr/local/bin/kpm33b-bridge",
        "etc/systemd/system/kpm33b-bridge.service",
        "etc/systemd/system/multi-user.target.wants/kpm33b-bridge.service",
        "usr/local/share/doc/kpm33b-bridge",
      ]
    ) {
      assert.ok(!(await exists(`${root}/${gone}`)), `${gone} is removed`);
    }
    assert.ok(await exists(`${root}/etc/kpm33b/config.yaml`));
    assert.ok(await exists(`${root}/var/lib/kpm33b/outbox.sqlite`));

    await installOk(root, "--uninstall", "--purge");
    assert.ok(!(await exists(`${root}/etc/kpm33b`)));
    assert.ok(!(await exists(`${root}/var/lib/kpm33b`)));
  });
});

Deno.test("install.sh is a POSIX shell script shellcheck finds nothing in", async () => {
  await runOk("shellcheck", ["--shell=sh", "--severity=style", INSTALL]);
});
