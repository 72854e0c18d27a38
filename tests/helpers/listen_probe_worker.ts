/**
 * Runs in a worker with an embedded broker's permissions and reports what it
 * may do: listen on its own port, nothing else.
 */
import "../../src/runtime/empty_process_env.ts";
import "aedes";
import { attempt } from "./attempt.ts";

declare const self: {
  onmessage: ((event: MessageEvent<{ allowedPort: number; deniedPort: number }>) => void) | null;
  postMessage(message: Record<string, string>): void;
};

self.onmessage = async ({ data }) => {
  self.postMessage({
    listenOwnPort: await attempt(() =>
      Deno.listen({ hostname: "127.0.0.1", port: data.allowedPort }).close()
    ),
    listenOtherPort: await attempt(() =>
      Deno.listen({ hostname: "127.0.0.1", port: data.deniedPort }).close()
    ),
    connectOut: await attempt(() => Deno.connect({ hostname: "127.0.0.1", port: data.deniedPort })),
    readFile: await attempt(() => Deno.readTextFile("/etc/hostname")),
    writeFile: await attempt(() => Deno.writeTextFile("/tmp/kpm33b-probe", "x")),
    runSubprocess: await attempt(() => new Deno.Command("true").output()),
    env: await attempt(() => Deno.env.get("HOME")),
  });
};
