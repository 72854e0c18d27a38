/**
 * Runs in a worker with the log file worker's permissions and reports what it
 * may do: write and rotate the log file, and nothing else.
 */
import { RotatingFile } from "../../src/logging/rotating_file.ts";
import { attempt } from "./attempt.ts";

declare const self: {
  onmessage: ((event: MessageEvent<{ path: string; deniedPort: number }>) => void) | null;
  postMessage(message: Record<string, string>): void;
};

self.onmessage = async ({ data }) => {
  const { path } = data;
  const dir = path.slice(0, path.lastIndexOf("/"));
  self.postMessage({
    writeAndRotate: await attempt(() => {
      const file = RotatingFile.open(path, { daily: false, maxBytes: 10, keep: 2 });
      for (let i = 0; i < 5; i++) file.write("0123456789\n");
      file.close();
    }),
    writeBesideLog: await attempt(() => Deno.writeTextFile(`${dir}/other.log`, "x")),
    writeBeyondKeep: await attempt(() => Deno.writeTextFile(`${path}.3`, "x")),
    readFile: await attempt(() => Deno.readTextFile("/etc/hostname")),
    connectOut: await attempt(() => Deno.connect({ hostname: "127.0.0.1", port: data.deniedPort })),
    runSubprocess: await attempt(() => new Deno.Command("true").output()),
    env: await attempt(() => Deno.env.get("HOME")),
  });
};
