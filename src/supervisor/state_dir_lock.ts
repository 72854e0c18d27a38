/**
 * One bridge per `state_dir`: the process that runs a worker keeping state
 * there (the proxy's outbox, the configuration flow's state file) holds an
 * advisory lock on `<state_dir>/<worker>.lock` until it exits, and writes who
 * it is into the file. A second process for the same worker and directory is
 * refused at start, naming the holder, instead of fighting over the files.
 *
 * The lock is the operating system's (`flock`): it goes with the process,
 * also when it is killed, so nothing stale is left behind. It holds between
 * processes of one machine; a directory shared over the network (NFS) is not
 * covered.
 *
 * @module
 */
import { join } from "node:path";

/** Another process holds the lock of a worker's state in `state_dir`. */
export class StateDirInUseError extends Error {
  override name = "StateDirInUseError";

  /**
   * @param path the lock file
   * @param holder what the holder wrote into it, e.g. `pid 4711 since 2026-12-07T18:00:00.000Z`
   */
  constructor(readonly path: string, readonly holder: string) {
    super(
      `${path} is held by another bridge process (${holder || "holder unknown"}): each bridge ` +
        "needs its own state_dir. Stop the other process, or give this one another state_dir",
    );
  }
}

/** Locks held by this process; released when it exits. */
export class StateDirLock {
  private constructor(readonly files: readonly Deno.FsFile[]) {}

  /**
   * Takes the lock of each named worker in `dir` (created if missing), or
   * throws {@link StateDirInUseError} without keeping any.
   */
  static async acquire(dir: string, workers: readonly string[]): Promise<StateDirLock> {
    await Deno.mkdir(dir, { recursive: true });
    const held: Deno.FsFile[] = [];
    try {
      for (const worker of workers) {
        const path = join(dir, `${worker}.lock`);
        const file = await Deno.open(path, { read: true, write: true, create: true });
        if (!await file.tryLock(true)) {
          file.close();
          const holder = (await Deno.readTextFile(path).catch(() => "")).trim();
          throw new StateDirInUseError(path, holder);
        }
        held.push(file);
        await file.truncate(0);
        await file.write(new TextEncoder().encode(`${holderText()}\n`));
      }
    } catch (error) {
      for (const file of held) file.close();
      throw error;
    }
    return new StateDirLock(held);
  }

  /** Gives the locks up (the process is about to exit). */
  release(): void {
    for (const file of this.files) file.close();
  }
}

function holderText(): string {
  return `pid ${Deno.pid} since ${new Date().toISOString()}`;
}
