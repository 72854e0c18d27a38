import assert from "node:assert/strict";
import type { MeterId } from "../../src/protocol/meter_id.ts";
import {
  defaultStatePath,
  readSimulatorState,
  SimulatorStateError,
  writeSimulatorState,
} from "../../src/simulator/state_file.ts";

const STATE = {
  version: 1 as const,
  meters: {
    "33B1225950027": {
      import_kwh: 150.5,
      upload_interval_seconds: 60,
      upload_interval_minutes: 1,
      outputs: 0,
      clock_offset_ms: 0,
    },
  },
};

async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "kpm33b-simulator-state-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

Deno.test("the default state file is in state/, named after the first meter", () => {
  assert.equal(
    defaultStatePath("33B1225950027" as MeterId),
    "state/simulator-33B1225950027.json",
  );
});

Deno.test("a missing state file is an empty state; a written one reads back, its directory created", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/nested/simulator.json`;
  assert.deepEqual(await readSimulatorState(path), { version: 1, meters: {} });
  await writeSimulatorState(path, STATE);
  assert.deepEqual(await readSimulatorState(path), STATE);
  assert.deepEqual([...Deno.readDirSync(`${dir.path}/nested`)].map((e) => e.name), [
    "simulator.json",
  ]);
});

Deno.test("a state file that is not JSON or not a state file is refused with what to do", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/simulator.json`;
  await Deno.writeTextFile(path, "{not json");
  await assert.rejects(
    readSimulatorState(path),
    (error: Error) =>
      error instanceof SimulatorStateError && error.message.includes(path) &&
      /not JSON.*delete it.*--state/.test(error.message),
  );
  await Deno.writeTextFile(path, JSON.stringify({ version: 1, meters: { x: {} } }));
  await assert.rejects(
    readSimulatorState(path),
    (error: Error) =>
      error instanceof SimulatorStateError &&
      /not a simulator state file.*delete it.*--state/.test(error.message),
  );
});

Deno.test("a state file that cannot be written names the file", async () => {
  await using dir = await tempDir();
  // A directory where the file should be: the rename fails.
  const path = `${dir.path}/simulator.json`;
  await Deno.mkdir(`${path}/occupied`, { recursive: true });
  await assert.rejects(
    writeSimulatorState(path, STATE),
    (error: Error) =>
      error instanceof SimulatorStateError &&
      error.message.startsWith(`cannot write the state file ${path}:`),
  );
});
