import assert from "node:assert/strict";
import { filesOf, STARTS_PROCESSES, testFiles, type Tier, tierOf, TIERS } from "./tiers.ts";

const root = new URL("../", import.meta.url);

Deno.test("every test file under tests/ belongs to exactly one tier", async () => {
  const all = await testFiles(root);
  assert.ok(all.length > 100, `only ${all.length} test files found`);
  const tiers = await Promise.all(
    TIERS.map(async (tier) => ({ tier, files: await filesOf(tier, root) })),
  );
  const seen = new Map<string, Tier[]>();
  for (const { tier, files } of tiers) {
    for (const file of files) seen.set(file, [...seen.get(file) ?? [], tier]);
  }
  const misplaced = all.filter((file) => seen.get(file)?.length !== 1);
  assert.deepEqual(misplaced, [], "files in no tier or in several");
  assert.deepEqual([...seen.keys()].sort(), all);
});

Deno.test("each file listed as starting a process exists outside the integration and deploy folders", async () => {
  const all = new Set(await testFiles(root));
  for (const file of STARTS_PROCESSES) {
    assert.ok(all.has(file), `${file} is listed in tests/tiers.ts but is no test file`);
    assert.ok(
      !file.startsWith("tests/integration/") && !file.startsWith("tests/deploy/"),
      `${file} is in the integration tier by its folder already; remove it from tests/tiers.ts`,
    );
  }
  assert.equal(new Set(STARTS_PROCESSES).size, STARTS_PROCESSES.length, "listed twice");
});

Deno.test("folders decide the tier unless a file is listed as starting a process", () => {
  assert.equal(tierOf("tests/deploy/helm_chart_test.ts"), "deploy");
  assert.equal(tierOf("tests/integration/bridge_test.ts"), "integration");
  assert.equal(tierOf("tests/mqtt/broker_connection_test.ts"), "integration");
  assert.equal(tierOf("tests/protocol/decode_test.ts"), "unit");
  assert.equal(tierOf("tests/new_module_test.ts"), "unit");
});

Deno.test("the tier tasks run their tier's files; only the unit tier runs without --allow-run, in parallel", async () => {
  const { tasks } = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))) as {
    tasks: Record<string, string>;
  };
  for (const tier of TIERS) {
    const task = tasks[`test:${tier}`];
    assert.ok(task, `deno.json has no task test:${tier}`);
    assert.match(
      task,
      new RegExp(`deno test .*\\$\\(deno run --allow-read tests/tiers\\.ts ${tier}\\)$`),
    );
    assert.equal(task.includes("--allow-run"), tier !== "unit", `test:${tier}`);
  }
  assert.match(tasks["test:unit"] ?? "", /--parallel/);
  assert.match(
    tasks["test:unit"] ?? "",
    /deno check src\/\*\/worker\.ts tests\/helpers\/\*_worker\.ts/,
  );
  assert.match(tasks.test ?? "", /deno test .* tests\/$/, "deno task test runs every test file");
});
