import assert from "node:assert/strict";
import { RotatingFile } from "../../src/logging/rotating_file.ts";
import { withTempDir } from "../helpers/files.ts";

async function names(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) found.push(entry.name);
  return found.sort();
}

Deno.test("size rotation keeps exactly `keep` rotated files, newest in .1, and loses no kept line", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/bridge.log`;
    const file = RotatingFile.open(path, { daily: false, maxBytes: 100, keep: 3 });
    // 10-byte lines: 10 per file, 60 lines make 6 files of which 4 are kept.
    for (let i = 0; i < 60; i++) file.write(`line ${String(i).padStart(4, "0")}\n`);
    file.close();
    assert.deepEqual(await names(dir), [
      "bridge.log",
      "bridge.log.1",
      "bridge.log.2",
      "bridge.log.3",
    ]);
    const lines = async (name: string) => (await Deno.readTextFile(`${dir}/${name}`)).split("\n");
    assert.deepEqual((await lines("bridge.log")).slice(0, 2), ["line 0050", "line 0051"]);
    assert.deepEqual((await lines("bridge.log.1"))[0], "line 0040");
    assert.deepEqual((await lines("bridge.log.3"))[0], "line 0020");
    for (const name of await names(dir)) {
      assert.ok((await Deno.stat(`${dir}/${name}`)).size <= 100, `${name} stays within max size`);
    }
  });
});

Deno.test("daily rotation: the first line after midnight starts a new file; keep bounds the days", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/bridge.log`;
    let now = new Date(2026, 11, 1, 12, 0, 0);
    const file = RotatingFile.open(path, { daily: true, maxBytes: 0, keep: 2 }, () => now);
    for (let day = 1; day <= 4; day++) {
      now = new Date(2026, 11, day, 12, 0, 0);
      file.write(`day ${day} noon\n`);
      now = new Date(2026, 11, day, 23, 59, 59);
      file.write(`day ${day} late\n`);
    }
    file.close();
    assert.deepEqual(await names(dir), ["bridge.log", "bridge.log.1", "bridge.log.2"]);
    assert.equal(await Deno.readTextFile(path), "day 4 noon\nday 4 late\n");
    assert.equal(await Deno.readTextFile(`${path}.1`), "day 3 noon\nday 3 late\n");
    assert.equal(await Deno.readTextFile(`${path}.2`), "day 2 noon\nday 2 late\n");
  });
});

Deno.test("an existing file is appended to, and rotated first when it was last written on an earlier day", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/bridge.log`;
    await Deno.writeTextFile(path, "before the restart\n");
    const today = new Date();
    const again = RotatingFile.open(path, { daily: true, maxBytes: 0, keep: 7 }, () => today);
    again.write("after the restart\n");
    again.close();
    assert.equal(await Deno.readTextFile(path), "before the restart\nafter the restart\n");

    const yesterday = new Date(today.getTime() - 86_400_000);
    await Deno.utime(path, yesterday, yesterday);
    const nextDay = RotatingFile.open(path, { daily: true, maxBytes: 0, keep: 7 }, () => today);
    nextDay.write("a new day\n");
    nextDay.close();
    assert.equal(await Deno.readTextFile(path), "a new day\n");
    assert.equal(await Deno.readTextFile(`${path}.1`), "before the restart\nafter the restart\n");
  });
});

Deno.test("a line longer than the size limit is written whole into a file of its own", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/bridge.log`;
    const file = RotatingFile.open(path, { daily: false, maxBytes: 10, keep: 5 });
    file.write("short\n");
    file.write(`${"x".repeat(50)}\n`);
    file.write("next\n");
    file.close();
    assert.equal(await Deno.readTextFile(`${path}.2`), "short\n");
    assert.equal(await Deno.readTextFile(`${path}.1`), `${"x".repeat(50)}\n`);
    assert.equal(await Deno.readTextFile(path), "next\n");
  });
});
