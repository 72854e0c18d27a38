/**
 * The config sender's state file in `state_dir`: read once at start, written
 * atomically (temporary file, then rename) so a crash mid-write never leaves
 * a torn file. A missing or corrupt file is reported and treated as empty.
 *
 * @module
 */
import { logger } from "../logging/setup.ts";
import { ConfigSenderState, emptyState } from "./meter_state.ts";

const log = logger("config_sender");

/** File name of the state inside `state_dir`. */
export const STATE_FILE = "config-sender.json";

/** Reads and writes the state file. */
export class StateStore {
  readonly path: string;
  /** The state to write next; `undefined` when nothing is pending. */
  #pending: ConfigSenderState | undefined;
  #writing: Promise<void> | undefined;
  /** Ends the pause between two writes early. */
  #hurry: (() => void) | undefined;
  /** A flush waits: no pause until the pending state is on disk. */
  #urgent = false;
  /** When the last write ended (performance.now()). */
  #lastWrite = -Infinity;

  /**
   * @param minIntervalMs pause between the end of one write and the start of
   * the next: with a large fleet the file is megabytes, and results arrive
   * many a second
   */
  constructor(readonly stateDir: string, readonly minIntervalMs = 1000) {
    this.path = `${stateDir}/${STATE_FILE}`;
  }

  /** Loads the state; a missing or unreadable file gives an empty state. */
  async load(): Promise<ConfigSenderState> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        log.info("No state file at {path} yet; starting empty", { path: this.path });
      } else {
        log.error("Cannot read state file {path} ({error}); starting empty", {
          path: this.path,
          error: String(error),
        });
      }
      return emptyState();
    }
    try {
      const parsed = ConfigSenderState.safeParse(JSON.parse(text));
      if (parsed.success) return parsed.data;
      log.error("State file {path} is invalid ({error}); starting empty", {
        path: this.path,
        error: parsed.error.issues[0]?.message,
      });
    } catch (error) {
      log.error("State file {path} is corrupt ({error}); starting empty", {
        path: this.path,
        error: String(error),
      });
    }
    return emptyState();
  }

  /**
   * Writes the state atomically, at most once per `minIntervalMs`: saves in
   * between coalesce, the state serialised when its write starts, so a burst
   * of results (every meter at midnight) costs a write a second, not one per
   * result. The promise resolves once the state as of this call is on disk.
   */
  save(state: ConfigSenderState): Promise<void> {
    this.#pending = state;
    this.#writing ??= this.#drain();
    return this.#writing;
  }

  /** Like {@link StateStore.save}, without the pause between writes (at shutdown). */
  flush(state: ConfigSenderState): Promise<void> {
    this.#urgent = true;
    const written = this.save(state);
    this.#hurry?.();
    return written;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending !== undefined) {
        const wait = this.#lastWrite + this.minIntervalMs - performance.now();
        if (wait > 0 && !this.#urgent) await this.#pause(wait);
        const state = this.#pending;
        this.#pending = undefined;
        await this.#write(JSON.stringify(state, null, 2));
        this.#lastWrite = performance.now();
      }
    } finally {
      this.#writing = undefined;
      this.#urgent = false;
    }
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#hurry = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#hurry = done;
    });
  }

  async #write(text: string): Promise<void> {
    try {
      const temporary = `${this.path}.tmp`;
      await Deno.mkdir(this.stateDir, { recursive: true });
      await Deno.writeTextFile(temporary, text);
      // Flush before the rename so a power cut cannot leave an empty file behind the new name.
      using file = await Deno.open(temporary, { read: true });
      await file.syncData();
      await Deno.rename(temporary, this.path);
    } catch (error) {
      log.error("Cannot write state file {path}: {error}", {
        path: this.path,
        error: String(error),
      });
    }
  }
}
