/**
 * The three test tiers and which test file belongs to which, for `deno task test:unit`,
 * `test:integration` and `test:deploy`. Run as `deno run --allow-read tests/tiers.ts <tier>` it
 * prints that tier's files, one per line.
 *
 * - deploy: everything under tests/deploy/ (qemu, Chromium, Compose, strace, compile, Helm).
 * - integration: everything under tests/integration/, plus the files in
 *   {@link STARTS_PROCESSES} (a real Mosquitto, the bridge or another subprocess).
 * - unit: every other test file. The unit tier runs without `--allow-run`, so a file that starts
 *   a process and is missing from {@link STARTS_PROCESSES} fails there instead of slipping in.
 *
 * @module
 */

/** A test tier: a task of deno.json runs the files of exactly one. */
export type Tier = "unit" | "integration" | "deploy";

/** The tiers, in the order `deno task test` covers them. */
export const TIERS: readonly Tier[] = ["unit", "integration", "deploy"];

/**
 * Test files outside tests/integration/ and tests/deploy/ that start a process, so they run in
 * the integration tier. Paths are relative to the repository root.
 */
export const STARTS_PROCESSES: readonly string[] = [
  "tests/addon/start_test.ts",
  "tests/architecture_test.ts",
  "tests/broker/mosquitto_files_test.ts",
  "tests/broker/mosquitto_shipped_test.ts",
  "tests/cluster/cluster_link_test.ts",
  "tests/config_sender/config_sender_test.ts",
  "tests/config_yaml_test.ts",
  "tests/dev/brokers_test.ts",
  "tests/main_test.ts",
  "tests/mqtt/broker_connection_test.ts",
  "tests/mqtt/deferred_ack_test.ts",
  "tests/outbox/open_outbox_store_test.ts",
  "tests/outbox/sqlite_disk_full_test.ts",
  "tests/outbox/sqlite_outbox_store_test.ts",
  "tests/simulator/cli_test.ts",
  "tests/simulator/simulated_fleet_test.ts",
  "tests/simulator/simulated_meter_test.ts",
  "tests/supervisor/permissions_test.ts",
  "tests/supervisor/state_dir_lock_test.ts",
];

/** The names `deno test` takes for test files when given a folder. */
const TEST_FILE = /(^|[_.])test\.(ts|tsx|mts|js|mjs|jsx)$/;

/** The tier of a test file, given by its path relative to the repository root. */
export function tierOf(path: string): Tier {
  if (path.startsWith("tests/deploy/")) return "deploy";
  if (path.startsWith("tests/integration/") || STARTS_PROCESSES.includes(path)) {
    return "integration";
  }
  return "unit";
}

/** The current directory, where `deno task` runs: the repository root. */
const CWD = new URL(`file://${Deno.cwd()}/`);

/** Every test file under tests/ of the repository at `root`, as paths relative to it, sorted. */
export async function testFiles(root: URL = CWD): Promise<string[]> {
  const files: string[] = [];
  async function walk(dir: string) {
    for await (const entry of Deno.readDir(new URL(dir, root))) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile && TEST_FILE.test(entry.name)) files.push(path);
    }
  }
  await walk("tests");
  return files.sort();
}

/** The test files of one tier in the repository at `root`, sorted. */
export async function filesOf(tier: Tier, root: URL = CWD): Promise<string[]> {
  return (await testFiles(root)).filter((path) => tierOf(path) === tier);
}

if (import.meta.main) {
  const tier = Deno.args[0] as Tier;
  if (Deno.args.length !== 1 || !TIERS.includes(tier)) {
    console.error(`usage: deno run --allow-read tests/tiers.ts <${TIERS.join("|")}>`);
    Deno.exit(64);
  }
  console.log((await filesOf(tier)).join("\n"));
}
