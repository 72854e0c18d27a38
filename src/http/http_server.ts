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
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isIP } from "node:net";
import denoJson from "../../deno.json" with { type: "json" };
import type { Config } from "../config/schema.ts";
import { logger } from "../logging/setup.ts";
import type { BridgeSnapshot, WorkerState } from "../status/bridge_snapshot.ts";
import type { BridgeEvent } from "../worker/messages.ts";
import type { WorkerService } from "../worker/worker_runtime.ts";
import { authorized, CHALLENGE } from "./auth.ts";
import { type BridgeIdentity, METRICS_CONTENT_TYPE, renderMetrics } from "./metrics.ts";
import { readiness } from "./readiness.ts";
import { PATH_PREFIX, renderStatusPage } from "./status_page.ts";

const log = logger("http");

/**
 * Bounds against clients that hold connections open (Deno.serve has none):
 * request headers must arrive within `headersMs`, the whole request within
 * `requestMs`; an idle keep-alive connection closes after `keepAliveMs`, one
 * that neither sends nor reads (a stalled response) after `idleMs`. At most
 * `connections` at once: further ones are closed at once.
 */
export const HTTP_LIMITS = {
  headersMs: 10_000,
  requestMs: 15_000,
  keepAliveMs: 5_000,
  idleMs: 30_000,
  connections: 256,
} as const;

/** How often the time-outs are checked, so a late client is closed within a second of its bound. */
const CHECK_INTERVAL_MS = 1000;

/** Paths open without `http.auth_token`, for liveness and readiness probes. */
const PROBES = new Set(["/healthz", "/readyz"]);

/** What `/status.json` returns. */
export interface StatusDocument {
  readonly snapshot: BridgeSnapshot | null;
  readonly workers: Readonly<Record<string, WorkerState>>;
  readonly ready: boolean;
  readonly reasons: string[];
}

/** An answer: status, headers and the whole body. */
interface Reply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const encoder = new TextEncoder();

const NO_STORE = { "cache-control": "no-store" };

/**
 * Forbids everything the status page does not need, external resources first.
 * Framing only by its own origin, and only behind Home Assistant's ingress,
 * which shows the page in a frame of its own origin.
 */
function pageHeaders(framed: boolean): Record<string, string> {
  return {
    ...NO_STORE,
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": "default-src 'none'; connect-src 'self'; " +
      "script-src 'unsafe-inline'; style-src 'unsafe-inline'; base-uri 'none'; " +
      `form-action 'none'; frame-ancestors ${framed ? "'self'" : "'none'"}`,
    "x-content-type-options": "nosniff",
  };
}

/**
 * The path prefix Home Assistant's ingress proxy serves the page under
 * (`X-Ingress-Path: /api/hassio_ingress/<token>`); `undefined` without one,
 * or for a value that is not a plain path.
 */
function ingressPath(request: IncomingMessage): string | undefined {
  const value = request.headers["x-ingress-path"];
  return typeof value === "string" && PATH_PREFIX.test(value) ? value : undefined;
}

function text(body: string, status = 200, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { ...NO_STORE, "content-type": "text/plain; charset=utf-8", ...headers },
    body,
  };
}

/** Why the endpoint could not listen, and what to do about it. */
function listenFailure(config: Config, error: unknown): string {
  const { host, port } = config.http;
  const consequence = "bridging goes on without the HTTP endpoint";
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "EADDRINUSE") {
    return `http.port ${port} is in use by another program: set http.port or ` +
      `http.enabled: false; ${consequence}`;
  }
  if (code === "EACCES") {
    return `not allowed to listen on ${host}:${port} (${error}): ports below 1024 need ` +
      `privileges; set http.port to 1024 or above, or http.enabled: false; ${consequence}`;
  }
  if (code === "EADDRNOTAVAIL" || code === "EINVAL") {
    return `http.host ${host} is not an address of this machine: set http.host (0.0.0.0 for ` +
      `all interfaces) or http.enabled: false; ${consequence}`;
  }
  return `cannot listen on ${host}:${port}: ${error}; set http.host / http.port or ` +
    `http.enabled: false; ${consequence}`;
}

/**
 * The address to listen on for `http.host`. node:http would resolve a host
 * name, which the worker may not (it may only listen), and fail outside any
 * error handler: a name other than localhost is refused here instead.
 */
function listenAddress(config: Config): { address: string } | { failure: string } {
  const { host } = config.http;
  if (isIP(host) !== 0) return { address: host };
  if (host === "localhost") return { address: "127.0.0.1" };
  return {
    failure: `http.host ${host} is a host name; the HTTP endpoint listens on an IP address: ` +
      "set http.host to an address of this machine (0.0.0.0 for all interfaces, 127.0.0.1 for " +
      "this machine only); bridging goes on without the HTTP endpoint",
  };
}

/** Listens on `address`:`http.port`; the error if it cannot. */
function listen(server: Server, address: string, port: number): Promise<unknown> {
  return new Promise((resolve) => {
    const failed = (error: unknown) => resolve(error);
    server.once("error", failed);
    server.listen(port, address, () => {
      server.off("error", failed);
      resolve(undefined);
    });
  });
}

/** Serves the bridge's state over HTTP; a {@link WorkerService} of the `http` worker. */
export class HttpServer implements WorkerService {
  readonly #server: Server;
  readonly #identity: BridgeIdentity = {
    version: denoJson.version,
    started_at: new Date().toISOString(),
  };
  #snapshot: BridgeSnapshot | undefined;
  #workers: Readonly<Record<string, WorkerState>> = {};
  #authToken: string | undefined;
  #listening = false;
  readonly #snapshots: boolean;

  private constructor(config: Config, snapshots: boolean) {
    this.#snapshots = snapshots;
    this.#authToken = config.http.auth_token;
    this.#server = createServer({
      headersTimeout: HTTP_LIMITS.headersMs,
      requestTimeout: HTTP_LIMITS.requestMs,
      keepAliveTimeout: HTTP_LIMITS.keepAliveMs,
      connectionsCheckingInterval: CHECK_INTERVAL_MS,
    }, (request, response) => this.#serve(request, response));
    this.#server.setTimeout(HTTP_LIMITS.idleMs);
    this.#server.maxConnections = HTTP_LIMITS.connections;
  }

  /**
   * Starts listening on `http.host`:`http.port`; logs, and serves nothing, if
   * it cannot. `snapshots`: whether a proxy in this process sends snapshots
   * (without one, readiness is the workers' states alone).
   */
  static async start(
    config: Config,
    { snapshots = true }: { snapshots?: boolean } = {},
  ): Promise<HttpServer> {
    const server = new HttpServer(config, snapshots);
    const { host, port } = config.http;
    const target = listenAddress(config);
    const failure = "failure" in target
      ? target.failure
      : await listen(server.#server, target.address, port).then((error) =>
        error === undefined ? undefined : listenFailure(config, error)
      );
    if (failure === undefined) {
      server.#listening = true;
      server.#server.on("error", (error) => log.error("HTTP endpoint failed: {error}", { error }));
      log.info("Status page and metrics on http://{host}:{port}/", { host, port: server.port });
    } else {
      log.error("HTTP endpoint not started: {reason}", { reason: failure });
    }
    return server;
  }

  /** The port listened on; `undefined` when listening failed. */
  get port(): number | undefined {
    const address = this.#listening ? this.#server.address() : null;
    return address !== null && typeof address === "object" ? address.port : undefined;
  }

  #serve(request: IncomingMessage, response: ServerResponse): void {
    let reply: Reply;
    try {
      reply = this.#handle(request);
    } catch (error) {
      log.error("HTTP request failed: {error}", { error: String(error) });
      reply = text("internal error\n", 500);
    }
    const body = encoder.encode(reply.body);
    response.writeHead(reply.status, { ...reply.headers, "content-length": String(body.length) });
    response.end(body);
  }

  #handle(request: IncomingMessage): Reply {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text("method not allowed\n", 405, { allow: "GET, HEAD" });
    }
    const path = new URL(request.url ?? "/", "http://bridge").pathname;
    if (
      this.#authToken !== undefined && !PROBES.has(path) &&
      !authorized(request.headers.authorization, this.#authToken)
    ) {
      return text("unauthorized\n", 401, { "www-authenticate": CHALLENGE });
    }
    const now = Date.now();
    switch (path) {
      case "/": {
        const prefix = ingressPath(request);
        return {
          status: 200,
          headers: pageHeaders(prefix !== undefined),
          body: renderStatusPage(prefix),
        };
      }
      case "/metrics":
        return {
          status: 200,
          headers: { ...NO_STORE, "content-type": METRICS_CONTENT_TYPE },
          body: renderMetrics(this.#snapshot, this.#workers, now, this.#identity),
        };
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
        return {
          status: 200,
          headers: { ...NO_STORE, "content-type": "application/json" },
          body: JSON.stringify(document),
        };
      }
      default:
        return text("not found\n", 404);
    }
  }

  /** Applies a changed `http.auth_token`; address and port change at the next start. */
  reconfigure(config: Config): void {
    this.#authToken = config.http.auth_token;
  }

  /** Keeps the latest snapshot and worker states. */
  onEvent(event: BridgeEvent): void {
    if (event.type === "snapshot") this.#snapshot = event.snapshot;
    else if (event.type === "workers") this.#workers = event.workers;
  }

  /** Stops listening, letting requests in flight finish within `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    if (!this.#listening) return;
    this.#listening = false;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([closed, new Promise((resolve) => timer = setTimeout(resolve, timeoutMs))]);
    clearTimeout(timer);
    this.#server.closeAllConnections();
  }
}
