/**
 * A log file that rotates itself: by local day and/or size, keeping a fixed
 * number of rotated files ({@link RotationPolicy}). Writes are synchronous
 * and unbuffered, so every line is on disk in order when `write` returns; it
 * runs in its own worker, where blocking delays nothing else.
 *
 * @module
 */
import {
  type CurrentFile,
  localDay,
  rotatedPaths,
  rotationDue,
  type RotationPolicy,
} from "./rotation.ts";

const encoder = new TextEncoder();

/** A rotating log file, opened for appending. */
export class RotatingFile {
  readonly #path: string;
  readonly #policy: RotationPolicy;
  readonly #now: () => Date;
  #file: Deno.FsFile;
  #current: CurrentFile;

  private constructor(path: string, policy: RotationPolicy, now: () => Date) {
    this.#path = path;
    this.#policy = policy;
    this.#now = now;
    [this.#file, this.#current] = this.#open();
  }

  /**
   * Opens (or creates) `path` for appending. An existing file keeps its size
   * and the day it was last written, so a restart on a later day rotates it.
   *
   * @param now the clock (tests move it across midnight)
   */
  static open(
    path: string,
    policy: RotationPolicy,
    now: () => Date = () => new Date(),
  ): RotatingFile {
    return new RotatingFile(path, policy, now);
  }

  /** Appends `text` (one or more whole lines), rotating first when due. */
  write(text: string): void {
    const bytes = encoder.encode(text);
    const now = this.#now();
    if (rotationDue(this.#current, bytes.length, localDay(now), this.#policy)) this.#rotate();
    if (this.#current.bytes === 0) this.#current = { bytes: 0, day: localDay(now) };
    let written = 0;
    while (written < bytes.length) written += this.#file.writeSync(bytes.subarray(written));
    this.#current = { ...this.#current, bytes: this.#current.bytes + bytes.length };
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }

  #open(): [Deno.FsFile, CurrentFile] {
    const file = Deno.openSync(this.#path, { append: true, create: true, mode: 0o640 });
    const info = file.statSync();
    return [file, { bytes: info.size, day: localDay(info.mtime ?? this.#now()) }];
  }

  #rotate(): void {
    this.#file.close();
    // From the oldest on, each rotated file takes the next older name; the oldest is removed.
    let older: string | undefined;
    for (const path of rotatedPaths(this.#path, this.#policy.keep).reverse()) {
      if (older === undefined) removeIfPresent(path);
      else renameIfPresent(path, older);
      older = path;
    }
    if (older === undefined) throw new RangeError("logging.file.keep must be at least 1");
    Deno.renameSync(this.#path, older);
    [this.#file, this.#current] = this.#open();
  }
}

function removeIfPresent(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

function renameIfPresent(from: string, to: string): void {
  try {
    Deno.renameSync(from, to);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
