/**
 * `logging.file`: the running bridge writes every log line of every isolate
 * (main, brokers, proxy, config sender) to the file as well as stdout, up to
 * its last line at shutdown.
 */
import assert from "node:assert/strict";
import { startBridge, TASK_START } from "../helpers/bridge.ts";
import { withTempDir } from "../helpers/files.ts";
import { freePort } from "../helpers/ports.ts";

Deno.test("with logging.file the bridge writes the same lines to the file as to stdout, all workers included", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/logs/bridge.log`;
    const bridge = await startBridge([
      `internal_broker: { url: "mqtt://127.0.0.1:${freePort()}", embedded: { enabled: true } }`,
      `central_broker: { url: "mqtt://127.0.0.1:${freePort()}", embedded: { enabled: true } }`,
      `logging: { format: json, file: { path: "${path}", max_megabytes: 1, keep: 2 } }`,
      "",
    ].join("\n"));
    await using _ = bridge;
    await bridge.waitForLog((l) => l.message === "Bridge state online", "the bridge online");
    const { code } = await bridge.stop("SIGTERM");
    assert.equal(code, 0, bridge.output());

    const onStdout = bridge.output().split("\n").filter((line) => line.startsWith("{"));
    const inFile = (await Deno.readTextFile(path)).trimEnd().split("\n");
    assert.deepEqual(inFile.toSorted(), onStdout.toSorted());
    const categories = new Set(inFile.map((line) => JSON.parse(line).logger as string));
    for (const category of ["kpm33b.main", "kpm33b.proxy", "kpm33b.config_sender"]) {
      assert.ok(categories.has(category), `${category} lines are in the file: ${[...categories]}`);
    }
    assert.ok([...categories].some((c) => c.startsWith("kpm33b.broker")), "broker worker lines");
    assert.equal(JSON.parse(inFile.at(-1)!).message, "Stopped", "the last line at shutdown");
  });
});

Deno.test("a log file path the bridge cannot create stops it with exit 78 and the reason", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/not-a-dir`, "");
    await Deno.writeTextFile(
      `${dir}/config.yaml`,
      `logging: { file: { path: "${dir}/not-a-dir/bridge.log" } }\nhttp: { enabled: false }\n`,
    );
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [...TASK_START.args, "--config", `${dir}/config.yaml`],
      cwd: new URL("../../", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    assert.match(
      output,
      /logging\.file\.path .*not-a-dir\/bridge\.log: cannot create its directory/,
    );
    assert.equal(code, 78, output);
  });
});
