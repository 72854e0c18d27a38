/**
 * Runs in a worker with an embedded broker's permissions and reports what it
 * may do: listen on its own port, nothing else.
 */
import "../../src/runtime/empty_process_env.ts";
import "aedes";

declare const self: {
  onmessage: ((event: MessageEvent<{ allowedPort: number; deniedPort: number }>) => void) | null;
  postMessage(message: Record<string, string>): void;
};

async function attempt(action: () => unknown | Promise<unknown>): Promise<string> {
  try {
    await action();
    return "allowed";
  } catch (error) {
    return (error as Error).name;
  }
}

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
