/** Free loopback TCP ports for test brokers. */

/** Asks the OS for a free port on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Resolves when something accepts TCP connections on the port. */
export async function waitForPort(port: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`nothing listens on port ${port}: ${error}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
