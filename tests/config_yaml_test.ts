/**
 * The shipped `config.yaml`: its live keys are the defaults, and every
 * commented-out example is valid once a user removes its "# " — at the
 * indentation it is written at, replacing the default above it.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../src/config/load.ts";
import { hostTimeZone } from "../src/protocol/meter_time.ts";
import { makeCertificates } from "./helpers/certificates.ts";

const SHIPPED = new URL("../config.yaml", import.meta.url);
const PROJECT = new URL("../", import.meta.url).pathname;

/** A commented-out key (`# key: …`), and its lines (the key's own and its children's). */
interface Example {
  readonly key: string;
  readonly indent: string;
  readonly first: number;
  readonly last: number;
}

const EXAMPLE = /^(\s*)# ("[^"]+"|[a-z_]+):(\s|$)/;

/** Every commented-out example in the file's lines. */
function examples(lines: readonly string[]): Example[] {
  const found: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const match = EXAMPLE.exec(lines[i]!);
    if (match === null) continue;
    const [, indent = "", key = ""] = match;
    let last = i;
    // Its children: commented lines indented further after the "# ".
    while (lines[last + 1]?.startsWith(`${indent}#  `)) last++;
    found.push({ key, indent, first: i, last });
    i = last;
  }
  return found;
}

const isLive = (line: string) => line.trim() !== "" && !line.trimStart().startsWith("#");
const indentOf = (line: string) => line.length - line.trimStart().length;

/** The file with one example uncommented, replacing the live key of the same name it follows. */
function uncomment(lines: readonly string[], example: Example): string {
  const out = lines.map((line, i) =>
    i >= example.first && i <= example.last
      ? line.replace(`${example.indent}# `, example.indent)
      : line
  );
  // The live sibling of the same name above it, within the same parent.
  const depth = example.indent.length;
  for (let i = example.first - 1; i >= 0; i--) {
    const line = lines[i] ?? "";
    if (!isLive(line)) continue;
    if (indentOf(line) < depth) break;
    if (indentOf(line) === depth && line.trimStart().startsWith(`${example.key}:`)) {
      let end = i;
      while (end + 1 < example.first) {
        const next = lines[end + 1] ?? "";
        if (isLive(next) && indentOf(next) <= depth) break;
        end++;
      }
      // Only the key and its own children go; comments in between stay harmless.
      out.splice(i, 1, "");
      for (let j = i + 1; j <= end; j++) if (isLive(lines[j] ?? "")) out[j] = "";
      break;
    }
  }
  return out.join("\n");
}

Deno.test("every commented-out example in config.yaml passes --check-config when uncommented", async () => {
  const text = await Deno.readTextFile(SHIPPED);
  const lines = text.split("\n");
  const found = examples(lines);
  // The examples a user is most likely to uncomment are all there.
  for (
    const key of ["host", "port", "tls", "accounts", "username", "timezone", "names", "file"]
  ) {
    assert.ok(found.some((e) => e.key === key), `no example of ${key}`);
  }
  await using certificates = await makeCertificates();
  const tls = `${certificates.dir}/etc-tls`;
  await Deno.mkdir(tls);
  for (const name of ["cert.pem", "client.pem"]) {
    await Deno.copyFile(certificates.serverCert, `${tls}/${name}`);
  }
  for (const name of ["key.pem", "client-key.pem"]) {
    await Deno.copyFile(certificates.serverKey, `${tls}/${name}`);
  }
  await Deno.copyFile(certificates.caCert, `${tls}/ca.pem`);
  // Secrets the examples take from the environment, as a user would set them.
  const env: Record<string, string> = { NO_COLOR: "1", TZ: "UTC" };
  for (const [, name = ""] of text.matchAll(/\$\{([A-Z0-9_]+)\}/g)) env[name] = `example-${name}`;
  env.KPM33B_METER_PASSWORD = "example-meter-password";

  const failures = await Promise.all(found.map(async (example) => {
    const config = uncomment(lines, example).replaceAll("/etc/kpm33b/tls/", `${tls}/`);
    const path = `${certificates.dir}/config-${example.first + 1}.yaml`;
    await Deno.writeTextFile(path, config);
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "start", "--config", path, "--check-config"],
      cwd: PROJECT,
      env,
    }).output();
    const decoder = new TextDecoder();
    return code === 0 ? [] : [
      `config.yaml:${example.first + 1} ${example.key}: ${decoder.decode(stdout)}${
        decoder.decode(stderr)
      }`,
    ];
  }));
  assert.deepEqual(failures.flat(), []);
});

Deno.test("the shipped config.yaml is the defaults: nothing in it differs from an empty configuration", async () => {
  const lookup = () => undefined;
  const shipped = parseConfig(await Deno.readTextFile(SHIPPED), "config.yaml", lookup);
  const defaults = parseConfig("{}", "config.yaml", lookup);
  // What the shipped file sets on purpose: the embedded brokers on their own ports.
  const { internal_broker, central_broker, ...rest } = shipped;
  const { internal_broker: _i, central_broker: _c, ...restDefaults } = defaults;
  assert.deepEqual(rest, { ...restDefaults, state_dir: rest.state_dir });
  assert.equal(shipped.meters.timezone, hostTimeZone(), "the meter time zone is this machine's");
  assert.deepEqual(shipped.meters.names, {}, "no example name is applied");
  assert.equal(internal_broker.embedded.enabled, true);
  assert.equal(central_broker.embedded.enabled, true);
});
