/**
 * The Home Assistant add-on repository (repository.yaml,
 * deploy/home-assistant-addon) against the Supervisor's own checks, ported in
 * tests/helpers/supervisor_addon_schema.ts, and against the bridge: version,
 * ports, options the start script reads, base image.
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import denoJson from "../../deno.json" with { type: "json" };
import { ADDON_LAYOUT } from "../../src/addon/addon_config.ts";
import { parseAddonOptions } from "../../src/addon/addon_options.ts";
import {
  addonConfigProblems,
  buildProblems,
  optionProblems,
  repositoryProblems,
  translationProblems,
} from "../helpers/supervisor_addon_schema.ts";

const PROJECT = new URL("../../", import.meta.url);
const ADDON = "deploy/home-assistant-addon";
const read = (path: string) => parseYaml(Deno.readTextFileSync(new URL(path, PROJECT)));
const repository = read("repository.yaml");
const config = read(`${ADDON}/config.yaml`);
const build = read(`${ADDON}/build.yaml`);
const english = read(`${ADDON}/translations/en.yaml`);

/** The repository's files as a clone has them (tracked, and new ones not ignored). */
function repositoryFiles(): string[] {
  const { stdout } = new Deno.Command("git", {
    args: ["ls-files", "--cached", "--others", "--exclude-standard"],
    cwd: PROJECT.pathname,
  }).outputSync();
  return new TextDecoder().decode(stdout).split("\n").filter((path) => path !== "");
}

Deno.test("repository.yaml is what the Supervisor reads as the repository, and the only such file", () => {
  assert.deepEqual(repositoryProblems(repository), []);
  assert.ok(repository.url.startsWith("https://"));
  // store/data.py takes the first **/repository.{json,yaml,yml} it finds.
  assert.deepEqual(
    repositoryFiles().filter((path) => /(^|\/)repository\.(json|ya?ml)$/.test(path)),
    ["repository.yaml"],
  );
});

Deno.test("of the repository's config files the store finds, the add-on's is the one add-on; the others are skipped", () => {
  // store/data.py: **/config.* with a .json/.yaml/.yml suffix, outside dot-folders and rootfs.
  const candidates = repositoryFiles().filter((path) => {
    const parts = path.split("/");
    return /^config\..*\.(json|ya?ml)$|^config\.(json|ya?ml)$/.test(parts.at(-1)!) &&
      !parts.some((part) => part.startsWith(".") || part === "rootfs");
  });
  assert.ok(candidates.includes("config.yaml"), candidates.join(", "));
  assert.ok(candidates.includes(`${ADDON}/config.yaml`), candidates.join(", "));
  const addons = candidates.filter((path) => addonConfigProblems(read(path)).length === 0);
  assert.deepEqual(addons, [`${ADDON}/config.yaml`]);
  // The bridge's own config.yaml and the others have no name: "Invalid app config!", a warning.
  for (const path of candidates.filter((path) => !addons.includes(path))) {
    assert.deepEqual(addonConfigProblems(read(path)), ["Invalid app config! (no name)"], path);
  }
});

Deno.test("the add-on's config.yaml passes the Supervisor's schema without advisories", () => {
  assert.deepEqual(addonConfigProblems(config), []);
  assert.equal(config.version, denoJson.version, "the add-on builds the bridge's release tag");
  assert.deepEqual(config.arch, ["aarch64", "amd64"]);
  assert.equal(config.startup, "services");
  assert.equal(config.boot, "auto");
  assert.deepEqual(config.services, ["mqtt:want"]);
  assert.equal(config.ingress, true);
  assert.equal(config.ingress_port, ADDON_LAYOUT.httpPort);
  const meters = `${ADDON_LAYOUT.metersPort}/tcp`;
  assert.equal(config.ports[meters], ADDON_LAYOUT.metersPort);
  assert.ok(config.ports_description[meters]);
  assert.equal(config.schema.meter_password, "password?");
  assert.ok(config.url.startsWith(`${repository.url}/`), config.url);
});

Deno.test("the default options pass the add-on's schema, as the Supervisor checks them, and the start script", () => {
  assert.deepEqual(optionProblems(config.schema, config.options), []);
  assert.deepEqual(parseAddonOptions(config.options), {
    meter_password: "",
    timezone: "",
    meter_names: [],
    relay_control: [],
    log_level: "info",
    config_overrides: "",
  });
  // Every option the start script reads is in the schema, and no other.
  assert.deepEqual(Object.keys(config.schema).sort(), Object.keys(config.options).sort());
});

Deno.test("options a homeowner sets pass both checks; a bad meter id fails both", () => {
  const set = {
    ...config.options,
    meter_password: "a long secret",
    timezone: "Europe/Vienna",
    meter_names: [{ id: "33B1225950027", name: "Main panel" }],
    relay_control: ["33B1225950027"],
    log_level: "debug",
    config_overrides: "meters: {upload_interval_seconds: 30}",
  };
  assert.deepEqual(optionProblems(config.schema, set), []);
  assert.equal(parseAddonOptions(set).meter_names[0]?.name, "Main panel");
  const bad = { ...set, relay_control: ["33b-1"] };
  assert.equal(optionProblems(config.schema, bad).length, 1);
  assert.throws(() => parseAddonOptions(bad), /option relay_control\[0\]: meter id/);
});

Deno.test("the Supervisor port refuses what the Supervisor refuses", () => {
  assert.match(addonConfigProblems({ ...config, slug: "kpm 33b" }).join(), /slug/);
  assert.match(addonConfigProblems({ ...config, arch: ["armv7"] }).join(), /armv7 is deprecated/);
  assert.match(addonConfigProblems({ ...config, boot: "always" }).join(), /boot/);
  assert.match(addonConfigProblems({ ...config, schema: { a: "strr" } }).join(), /schema\.a/);
  assert.match(addonConfigProblems({ ...config, ingres: true }).join(), /ingres: unknown key/);
  assert.match(optionProblems({ a: "str", b: "int?" }, {}).join(), /a: missing option/);
  assert.match(optionProblems({ a: "list(x|y)" }, { a: "z" }).join(), /not one of/);
  assert.match(repositoryProblems({ url: "https://x.example" }).join(), /name: required/);
  assert.match(buildProblems({ build_from: { armv8: "a/b:1" } }).join(), /armv8/);
  assert.match(translationProblems({ configuration: { a: { description: "x" } } }).join(), /name/);
});

Deno.test("build.yaml passes the Supervisor's schema and builds every arch on the bridge's Deno", () => {
  assert.deepEqual(buildProblems(build), []);
  assert.deepEqual(Object.keys(build.build_from).sort(), [...config.arch].sort());
  for (const image of Object.values(build.build_from)) {
    assert.equal(image, `docker.io/denoland/deno:${Deno.version.deno}`);
  }
});

Deno.test("translations/en.yaml passes the Supervisor's schema and labels every option and port", () => {
  assert.deepEqual(translationProblems(english), []);
  assert.deepEqual(Object.keys(english.configuration).sort(), Object.keys(config.schema).sort());
  assert.deepEqual(Object.keys(english.network), Object.keys(config.ports));
});

function pngSize(path: string): { width: number; height: number } {
  const bytes = Deno.readFileSync(new URL(path, PROJECT));
  assert.equal(new TextDecoder().decode(bytes.subarray(12, 16)), "IHDR", path);
  const view = new DataView(bytes.buffer);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

Deno.test("the store pictures have the sizes the developer documentation asks for", () => {
  assert.deepEqual(pngSize(`${ADDON}/icon.png`), { width: 128, height: 128 });
  assert.deepEqual(pngSize(`${ADDON}/logo.png`), { width: 250, height: 100 });
});
