/**
 * A TCP forwarder on a free loopback port that throttles one direction: what
 * its clients send towards the upstream port is let through at `rate` bytes
 * per second (a slow link to a broker); the other direction is not limited.
 */

/** A running throttling forwarder. */
export class ThrottleProxy implements AsyncDisposable {
  /** Bytes per second from clients towards upstream; `Infinity`: unthrottled. */
  rate: number;
  /** Bytes forwarded towards upstream so far. */
  bytesUp = 0;
  /** Bytes forwarded towards the clients so far. */
  bytesDown = 0;
  /** Connections accepted so far. */
  connections = 0;
  readonly #listener: Deno.Listener;
  readonly #conns = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;
  #closed = false;

  private constructor(listener: Deno.Listener, readonly upstreamPort: number, rate: number) {
    this.#listener = listener;
    this.rate = rate;
    this.#accepting = this.#accept();
  }

  /** Listens on a free loopback port and forwards to `127.0.0.1:<upstreamPort>`. */
  static start(upstreamPort: number, bytesPerSecond: number): ThrottleProxy {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return new ThrottleProxy(listener, upstreamPort, bytesPerSecond);
  }

  /** The port clients connect to. */
  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** `mqtt://127.0.0.1:<port>`. */
  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async #accept(): Promise<void> {
    while (!this.#closed) {
      let client: Deno.Conn;
      try {
        client = await this.#listener.accept();
      } catch {
        return; // listener closed
      }
      this.connections++;
      this.#track(this.#serve(client));
    }
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task));
  }

  async #serve(client: Deno.Conn): Promise<void> {
    this.#conns.add(client);
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.upstreamPort });
    } catch {
      this.#close(client);
      return;
    }
    this.#conns.add(upstream);
    if (this.#closed) {
      this.#close(client);
      this.#close(upstream);
      return;
    }
    const end = () => {
      this.#close(client);
      this.#close(upstream);
    };
    await Promise.all([
      this.#pump(client, upstream, true).finally(end),
      this.#pump(upstream, client, false).finally(end),
    ]);
  }

  async #pump(from: Deno.Conn, to: Deno.Conn, throttled: boolean): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        // Throttled: small reads, each followed by the pause the rate asks for.
        const limit = throttled && Number.isFinite(this.rate)
          ? Math.max(256, Math.min(buffer.length, Math.floor(this.rate / 20)))
          : buffer.length;
        const n = await from.read(buffer.subarray(0, limit));
        if (n === null) return;
        let written = 0;
        while (written < n) written += await to.write(buffer.subarray(written, n));
        if (throttled) {
          this.bytesUp += n;
          if (Number.isFinite(this.rate)) {
            await new Promise((resolve) => setTimeout(resolve, n / this.rate * 1000));
          }
        } else {
          this.bytesDown += n;
        }
      }
    } catch {
      // either side closed
    }
  }

  #close(conn: Deno.Conn): void {
    if (!this.#conns.delete(conn)) return;
    try {
      conn.close();
    } catch {
      // already closed
    }
  }

  /** Drops every connection (as a failing link would) but keeps listening. */
  dropConnections(): void {
    for (const conn of [...this.#conns]) this.#close(conn);
  }

  /** Stops listening, closes every connection and waits for the forwarding tasks. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    await this.#accepting;
    this.dropConnections();
    while (this.#tasks.size > 0) await Promise.all([...this.#tasks]);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
