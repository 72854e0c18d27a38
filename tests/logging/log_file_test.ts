import assert from "node:assert/strict";
import { LogFile, LogFileError, logFilePermissions } from "../../src/logging/log_file.ts";
import { withTempDir } from "../helpers/files.ts";
import { NOTHING } from "../helpers/permissions.ts";
import { freePort } from "../helpers/ports.ts";

const POLICY = { daily: true, max_megabytes: 0, keep: 3 };

Deno.test("LogFile creates its directory, writes every line handed over before close, in order", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/logs/bridge.log`;
    const file = await LogFile.start({ path, ...POLICY });
    const expected = Array.from({ length: 1000 }, (_, i) => `line ${i}\n`);
    for (const line of expected) file.write(line);
    await file.close();
    assert.equal(await Deno.readTextFile(path), expected.join(""));
  });
});

/** Asserts that `LogFile.start` refuses `path` with a message matching `reason`. */
async function assertRefused(path: string, reason: RegExp): Promise<void> {
  await assert.rejects(LogFile.start({ path, ...POLICY }), (error: Error) => {
    assert.ok(error instanceof LogFileError, String(error));
    assert.ok(error.message.startsWith(`logging.file.path ${path}: `), error.message);
    assert.match(error.message, reason);
    return true;
  });
}

Deno.test("LogFile refuses a path it cannot create, naming the key and the reason", async () => {
  await withTempDir(async (dir) => {
    // A regular file where the log directory should be.
    await Deno.writeTextFile(`${dir}/not-a-dir`, "");
    await assertRefused(`${dir}/not-a-dir/bridge.log`, /cannot create its directory/);
    // A directory where the log file should be.
    await Deno.mkdir(`${dir}/dir-as-file/bridge.log`, { recursive: true });
    await assertRefused(`${dir}/dir-as-file/bridge.log`, /directory/i);
  });
});

Deno.test("the log file worker may read and write the log file and its rotated copies, nothing else", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-permissions-" });
  try {
    const file = { path: `${dir}/bridge.log`, daily: true, max_megabytes: 0, keep: 2 };
    const paths = [`${dir}/bridge.log`, `${dir}/bridge.log.1`, `${dir}/bridge.log.2`];
    assert.deepEqual(logFilePermissions(file), { ...NOTHING, read: paths, write: paths });
    const worker = new Worker(new URL("../helpers/log_file_probe_worker.ts", import.meta.url), {
      type: "module",
      deno: { permissions: logFilePermissions(file) },
    } as WorkerOptions);
    try {
      const result = await new Promise<Record<string, string>>((resolve) => {
        worker.onmessage = (event) => resolve(event.data);
        worker.postMessage({ path: file.path, deniedPort: freePort() });
      });
      assert.deepEqual(result, {
        writeAndRotate: "allowed",
        writeBesideLog: "NotCapable",
        writeBeyondKeep: "NotCapable",
        readFile: "NotCapable",
        connectOut: "NotCapable",
        runSubprocess: "NotCapable",
        env: "NotCapable",
      });
    } finally {
      worker.terminate();
    }
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names.sort(), ["bridge.log", "bridge.log.1", "bridge.log.2"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
