/**
 * The log file worker: appends the lines it is sent to the rotating log
 * file. Its only permissions are reading and writing that file and its
 * rotated copies.
 *
 * @module
 */
import type { FromLogFile, ToLogFile } from "./log_file.ts";
import { RotatingFile } from "./rotating_file.ts";

declare const self: {
  onmessage: ((event: MessageEvent<ToLogFile>) => void) | null;
  postMessage(message: FromLogFile): void;
};

let file: RotatingFile | undefined;
// A failing disk is reported on stderr (the log file cannot carry it) when it
// starts and when it ends, not for every line.
let failing = false;

self.onmessage = ({ data }) => {
  if (data.type === "open") {
    try {
      file = RotatingFile.open(data.file.path, {
        daily: data.file.daily,
        maxBytes: data.file.max_megabytes * 1024 * 1024,
        keep: data.file.keep,
      });
      self.postMessage({ type: "opened" });
    } catch (error) {
      self.postMessage({ type: "failed", error: (error as Error).message });
    }
  } else if (data.type === "write") {
    try {
      file?.write(data.text);
      if (failing) console.error("kpm33b-bridge: writing the log file works again");
      failing = false;
    } catch (error) {
      if (!failing) {
        console.error(
          `kpm33b-bridge: cannot write the log file (lines are dropped from it until this is fixed; stdout has them): ${
            (error as Error).message
          }`,
        );
      }
      failing = true;
    }
  } else if (data.type === "close") {
    file?.close();
    file = undefined;
    self.postMessage({ type: "closed" });
  }
};
