/** Reading a configuration file until two reads a pause apart agree, on real files. */
import assert from "node:assert/strict";
import { ConfigError, UnsettledConfigError } from "../../src/config/config_error.ts";
import { readSettledText } from "../../src/config/settled_read.ts";
import { sleep } from "../helpers/wait.ts";

const FAST = { settleMs: 50, maxReads: 4 };

async function tempFile(text: string) {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-settled-" });
  const path = `${dir}/config.yaml`;
  await Deno.writeTextFile(path, text);
  return { path, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

Deno.test("a file that does not change is taken after two reads one pause apart", async () => {
  await using file = await tempFile("meters: {}\n");
  const started = performance.now();
  assert.equal(await readSettledText(file.path, FAST), "meters: {}\n");
  assert.ok(performance.now() - started >= FAST.settleMs);
});

Deno.test("a file completed between two reads is read again and taken complete", async () => {
  await using file = await tempFile("meters:\n");
  const reading = readSettledText(file.path, FAST);
  // Between the first and the second read.
  await sleep(FAST.settleMs / 2);
  await Deno.writeTextFile(file.path, "  timezone: UTC\n", { append: true });
  assert.equal(await reading, "meters:\n  timezone: UTC\n");
});

Deno.test("a file that keeps changing is refused after maxReads reads, naming the file", async () => {
  await using file = await tempFile("a\n");
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      await Deno.writeTextFile(file.path, `# ${i}\n`);
      await sleep(10);
    }
  })();
  try {
    await assert.rejects(readSettledText(file.path, FAST), (error: unknown) => {
      assert.ok(error instanceof UnsettledConfigError);
      assert.ok(error instanceof ConfigError);
      assert.equal(error.file, file.path);
      assert.equal(
        error.message,
        `${file.path}: the file changed between each of 4 reads 50 ms apart ` +
          "(a save still in progress?); reload again once it is saved",
      );
      return true;
    });
  } finally {
    writing = false;
    await writer;
  }
});

Deno.test("a missing file is reported as missing once it stays missing; one that comes back is read", async () => {
  await using file = await tempFile("x: 1\n");
  await Deno.remove(file.path);
  await assert.rejects(readSettledText(file.path, FAST), (error: unknown) => {
    assert.ok(error instanceof ConfigError && !(error instanceof UnsettledConfigError));
    assert.match(error.message, /file not found/);
    return true;
  });
  const reading = readSettledText(file.path, FAST);
  // Between the first and the second read.
  await sleep(FAST.settleMs / 2);
  await Deno.writeTextFile(file.path, "x: 2\n");
  assert.equal(await reading, "x: 2\n");
});
