/**
 * The simulator's state file ({@link SimulatorState}): read at start, written
 * atomically (temporary file, then rename) so a stop mid-write never leaves a
 * torn file behind.
 *
 * @module
 */
import { dirname } from "node:path";
import { z } from "zod";
import type { MeterId } from "../protocol/meter_id.ts";
import { SimulatorState } from "./meter_memory.ts";

/** Where `deno task simulate` may read and write (its `--allow-read` and `--allow-write`). */
export const STATE_DIR = "state";

/** The default state file of a simulator: named after its first meter, so side-by-side simulators keep apart. */
export function defaultStatePath(firstId: MeterId): string {
  return `${STATE_DIR}/simulator-${firstId}.json`;
}

/** The state file cannot be read, parsed or written. */
export class SimulatorStateError extends Error {
  override name = "SimulatorStateError";
}

function failure(action: string, path: string, error: unknown): SimulatorStateError {
  const denied = error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.PermissionDenied;
  const advice = error instanceof Deno.errors.NotCapable
    ? `deno task simulate may read and write only inside ./${STATE_DIR}/: choose a --state ` +
      `file there, or run deno run --allow-net --allow-env --allow-read=DIR --allow-write=DIR ` +
      "src/simulator/cli.ts with the file's directory"
    : denied
    ? "check the permissions of the file and its directory, or choose another --state file"
    : "choose another --state file, or --state none to keep nothing";
  return new SimulatorStateError(
    `cannot ${action} the state file ${path}: ${(error as Error).message}; ${advice}`,
    { cause: error },
  );
}

/**
 * Reads the state file; a missing file is an empty state (the meters' first run).
 *
 * @throws {SimulatorStateError} when the file cannot be read or is not a state file
 */
export async function readSimulatorState(path: string): Promise<SimulatorState> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { version: 1, meters: {} };
    throw failure("read", path, error);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SimulatorStateError(
      `the state file ${path} is not JSON (${(error as Error).message}); delete it to start ` +
        "the meters afresh, or choose another --state file",
    );
  }
  const parsed = SimulatorState.safeParse(json);
  if (!parsed.success) {
    throw new SimulatorStateError(
      `the state file ${path} is not a simulator state file (${
        z.prettifyError(parsed.error).replaceAll("\n", " ")
      }); delete it to start the meters afresh, or choose another --state file`,
    );
  }
  return parsed.data;
}

/**
 * Writes the state file atomically, creating its directory.
 *
 * @throws {SimulatorStateError} when it cannot be written
 */
export async function writeSimulatorState(path: string, state: SimulatorState): Promise<void> {
  const temporary = `${path}.tmp`;
  try {
    await Deno.mkdir(dirname(path), { recursive: true });
    await Deno.writeTextFile(temporary, JSON.stringify(state, null, 1));
    await Deno.rename(temporary, path);
  } catch (error) {
    throw failure("write", path, error);
  }
}
