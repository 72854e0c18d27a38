/**
 * The HTTP endpoint: `/metrics`, `/healthz`, `/readyz`, `/status.json` and
 * the status page at `/`, all read-only and rendered from the latest
 * snapshot (sent by the proxy) and worker states (sent by the supervisor).
 *
 * The endpoint is an aid, not part of bridging: when it cannot listen, it
 * says why once and the bridge goes on without it.
 *
 * @module
 */
import denoJson from "../../deno.json" with { type: "json" };
import type { Config } from "../config/schema.ts";
import { logger } from "../logging/setup.ts";
import type { BridgeSnapshot, WorkerState } from "../status/bridge_snapshot.ts";
import type { BridgeEvent } from "../supervisor/messages.ts";
import type { WorkerService } from "../supervisor/worker_runtime.ts";
import { type BridgeIdentity, METRICS_CONTENT_TYPE, renderMetrics } from "./metrics.ts";
import { readiness } from "./readiness.ts";
import { renderStatusPage } from "./status_page.ts";

const log = logger("http");

/** What `/status.json` returns. */
export interface StatusDocument {
  readonly snapshot: BridgeSnapshot | null;
  readonly workers: Readonly<Record<string, WorkerState>>;
  readonly ready: boolean;
  readonly reasons: string[];
}

const NO_STORE = { "cache-control": "no-store" };

/** Forbids everything the status page does not need, external resources first. */
const PAGE_HEADERS = {
  ...NO_STORE,
  "content-type": "text/html; charset=utf-8",
  "content-security-policy": "default-src 'none'; connect-src 'self'; " +
    "script-src 'unsafe-inline'; style-src 'unsafe-inline'; base-uri 'none'; " +
    "form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
};

function text(body: string, status = 200): Response {
  return new Response(body, {
    status,
    headers: { ...NO_STORE, "content-type": "text/plain; charset=utf-8" },
  });
}

/** Why the endpoint could not listen, and what to do about it. */
function listenFailure(config: Config, error: unknown): string {
  const { host, port } = config.http;
  const consequence = "bridging goes on without the HTTP endpoint";
  if (error instanceof Deno.errors.AddrInUse) {
    return `http.port ${port} is in use by another program: set http.port or ` +
      `http.enabled: false; ${consequence}`;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return `not allowed to listen on ${host}:${port} (${error.message}): ports below 1024 need ` +
      `privileges; set http.port to 1024 or above, or http.enabled: false; ${consequence}`;
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return `http.host ${host} is not an address of this machine: set http.host (0.0.0.0 for ` +
      `all interfaces) or http.enabled: false; ${consequence}`;
  }
  return `cannot listen on ${host}:${port}: ${error}; set http.host / http.port or ` +
    `http.enabled: false; ${consequence}`;
}

/** Serves the bridge's state over HTTP; a {@link WorkerService} of the `http` worker. */
export class HttpServer implements WorkerService {
  readonly #server: Deno.HttpServer<Deno.NetAddr> | undefined;
  readonly #identity: BridgeIdentity = {
    version: denoJson.version,
    started_at: new Date().toISOString(),
  };
  #snapshot: BridgeSnapshot | undefined;
  #workers: Readonly<Record<string, WorkerState>> = {};
  readonly #snapshots: boolean;

  /**
   * Starts listening on `http.host`:`http.port`; logs, and serves nothing, if
   * it cannot. `snapshots`: whether a proxy in this process sends snapshots
   * (without one, readiness is the workers' states alone).
   */
  constructor(config: Config, { snapshots = true }: { snapshots?: boolean } = {}) {
    this.#snapshots = snapshots;
    const { host, port } = config.http;
    try {
      this.#server = Deno.serve({
        hostname: host,
        port,
        onListen: () =>
          log.info("Status page and metrics on http://{host}:{port}/", { host, port }),
        onError: (error) => {
          log.error("HTTP request failed: {error}", { error: String(error) });
          return text("internal error\n", 500);
        },
      }, (request) => this.#handle(request));
    } catch (error) {
      log.error("HTTP endpoint not started: {reason}", { reason: listenFailure(config, error) });
    }
  }

  /** The port listened on; `undefined` when listening failed. */
  get port(): number | undefined {
    return this.#server?.addr.port;
  }

  #handle(request: Request): Response {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("method not allowed\n", {
        status: 405,
        headers: { ...NO_STORE, allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" },
      });
    }
    const now = Date.now();
    switch (new URL(request.url).pathname) {
      case "/":
        return new Response(renderStatusPage(), { headers: PAGE_HEADERS });
      case "/metrics":
        return new Response(renderMetrics(this.#snapshot, this.#workers, now, this.#identity), {
          headers: { ...NO_STORE, "content-type": METRICS_CONTENT_TYPE },
        });
      case "/healthz":
        return text("ok\n");
      case "/readyz": {
        const { ready, reasons } = readiness(this.#snapshot, this.#workers, now, this.#snapshots);
        return ready ? text("ready\n") : text(reasons.map((r) => `${r}\n`).join(""), 503);
      }
      case "/status.json": {
        const document: StatusDocument = {
          snapshot: this.#snapshot ?? null,
          workers: this.#workers,
          ...readiness(this.#snapshot, this.#workers, now, this.#snapshots),
        };
        return Response.json(document, { headers: NO_STORE });
      }
      default:
        return text("not found\n", 404);
    }
  }

  /** Keeps the latest snapshot and worker states. */
  onEvent(event: BridgeEvent): void {
    if (event.type === "snapshot") this.#snapshot = event.snapshot;
    else if (event.type === "workers") this.#workers = event.workers;
  }

  /** Stops listening, letting requests in flight finish within `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    if (this.#server === undefined) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#server.shutdown(),
      new Promise((resolve) => timer = setTimeout(resolve, timeoutMs)),
    ]);
    clearTimeout(timer);
  }
}
