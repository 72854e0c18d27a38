import assert from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };
import { Config } from "../../src/config/schema.ts";
import { HTTP_LIMITS, HttpServer, type StatusDocument } from "../../src/http/http_server.ts";
import { bridgeSnapshot, meterStatus } from "../helpers/bridge_snapshot_fixture.ts";
import { captureLogs } from "../helpers/log_capture.ts";
import { freePort } from "../helpers/ports.ts";

const configOn = (port: number, http: Record<string, unknown> = {}) =>
  Config.parse({ http: { host: "127.0.0.1", port, ...http } });

/** An HttpServer on a free loopback port with `http` settings, stopped on dispose. */
async function serve(http: Record<string, unknown> = {}): Promise<HttpServer & AsyncDisposable> {
  const server = await HttpServer.start(configOn(freePort(), http));
  return Object.assign(server, { [Symbol.asyncDispose]: () => server.stop(1000) });
}

async function get(server: HttpServer, path: string, init?: RequestInit) {
  const response = await fetch(`http://127.0.0.1:${server.port}${path}`, init);
  return { response, body: await response.text() };
}

Deno.test("/healthz answers ok as soon as the server listens", async () => {
  await using _logs = await captureLogs();
  await using server = await serve();
  const { response, body } = await get(server, "/healthz");
  assert.equal(response.status, 200);
  assert.equal(body, "ok\n");
  assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
});

Deno.test("/readyz is 503 with one reason a line until the bridge is ready, then 200", async () => {
  await using _logs = await captureLogs();
  await using server = await serve();
  const before = await get(server, "/readyz");
  assert.equal(before.response.status, 503);
  assert.equal(
    before.body,
    "no status from the proxy yet\nno worker states from the supervisor yet\n",
  );

  server.onEvent({ type: "snapshot", snapshot: bridgeSnapshot(new Date()) });
  server.onEvent({ type: "workers", workers: { proxy: "running", http: "running" } });
  const after = await get(server, "/readyz");
  assert.equal(after.response.status, 200);
  assert.equal(after.body, "ready\n");
});

Deno.test("/metrics serves the latest snapshot in the text exposition format", async () => {
  await using _logs = await captureLogs();
  await using server = await serve();
  server.onEvent({
    type: "snapshot",
    snapshot: bridgeSnapshot(new Date(), { meters: [meterStatus()] }),
  });
  const { response, body } = await get(server, "/metrics");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  assert.ok(body.includes('kpm33b_build_info{version="1.2.3"} 1\n'));
  assert.ok(body.includes('kpm33b_meter_readings_total{meter="33B1225950027"} 42\n'));
});

Deno.test("/metrics before the first snapshot shows the bridge's own version", async () => {
  await using _logs = await captureLogs();
  await using server = await serve();
  const { body } = await get(server, "/metrics");
  assert.ok(body.includes(`kpm33b_build_info{version="${denoJson.version}"} 1\n`));
  assert.ok(!body.includes("kpm33b_meters "));
});

Deno.test("/status.json carries snapshot, worker states and readiness", async () => {
  await using _logs = await captureLogs();
  await using server = await serve();
  const empty: StatusDocument = JSON.parse((await get(server, "/status.json")).body);
  assert.deepEqual(empty, {
    snapshot: null,
    workers: {},
    ready: false,
    reasons: ["no status from the proxy yet", "no worker states from the supervisor yet"],
  });

  const snapshot = bridgeSnapshot(new Date(), { meters: [meterStatus()] });
  server.onEvent({ type: "snapshot", snapshot });
  server.onEvent({ type: "workers", workers: { proxy: "running" } });
  const { response, body } = await get(server, "/status.json");
  assert.equal(response.headers.get("content-type"), "application/json");
  assert.equal(response.headers.get("cache-control"), "no-store");
  assert.deepEqual(JSON.parse(body), {
    snapshot: JSON.parse(JSON.stringify(snapshot)),
    workers: { proxy: "running" },
    ready: true,
    reasons: [],
  });
});

Deno.test("/ serves the status page, forbidding external resources", async () => {
  await using _logs = await captureLogs();
  await using server = await serve();
  const { response, body } = await get(server, "/");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
  assert.match(response.headers.get("content-security-policy")!, /default-src 'none'/);
  assert.ok(body.includes('<table id="meters">'));
});

Deno.test("/ behind Home Assistant's ingress names its path prefix and may be framed by its origin", async () => {
  await using _logs = await captureLogs();
  await using server = await serve();
  const prefix = "/api/hassio_ingress/Xy_9-token";
  const framed = await get(server, "/", { headers: { "x-ingress-path": prefix } });
  assert.ok(framed.body.includes(`<meta name="path-prefix" content="${prefix}">`), framed.body);
  assert.match(framed.response.headers.get("content-security-policy")!, /frame-ancestors 'self'/);

  const direct = await get(server, "/");
  assert.doesNotMatch(direct.body, /<meta name="path-prefix"/);
  assert.match(direct.response.headers.get("content-security-policy")!, /frame-ancestors 'none'/);

  // A header that is no plain path changes nothing: it is never written into the page.
  const hostile = await get(server, "/", { headers: { "x-ingress-path": '/a"><script>' } });
  assert.doesNotMatch(hostile.body, /<meta name="path-prefix"|"><script>/);
  assert.match(hostile.response.headers.get("content-security-policy")!, /frame-ancestors 'none'/);
});

Deno.test("unknown paths are 404, methods other than GET and HEAD are 405", async () => {
  await using _logs = await captureLogs();
  await using server = await serve();
  const missing = await get(server, "/nope");
  assert.equal(missing.response.status, 404);
  const post = await get(server, "/metrics", { method: "POST", body: "x" });
  assert.equal(post.response.status, 405);
  assert.equal(post.response.headers.get("allow"), "GET, HEAD");
  const head = await get(server, "/healthz", { method: "HEAD" });
  assert.equal(head.response.status, 200);
  assert.equal(head.body, "");
});

Deno.test("a busy port logs one actionable error and the worker goes on without HTTP", async () => {
  await using logs = await captureLogs();
  const port = freePort();
  using _occupier = Deno.listen({ hostname: "127.0.0.1", port });
  const server = await HttpServer.start(configOn(port));
  assert.equal(server.port, undefined);
  const errors = logs.lines.filter((line) => line.level === "error");
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.category, "kpm33b.http");
  assert.equal(
    errors[0]?.properties.reason,
    `http.port ${port} is in use by another program: set http.port or http.enabled: false; ` +
      "bridging goes on without the HTTP endpoint",
  );
  server.onEvent({ type: "workers", workers: { proxy: "running" } });
  await server.stop(1000);
});

Deno.test("after stop the port is free again", async () => {
  await using _logs = await captureLogs();
  const server = await serve();
  const port = server.port!;
  assert.equal((await get(server, "/healthz")).response.status, 200);
  await server.stop(1000);
  Deno.listen({ hostname: "127.0.0.1", port }).close();
});

/** Reads `conn` until the server closes it; what it answered, and after how many ms. */
async function untilClosed(conn: Deno.Conn, since: number): Promise<{ ms: number; text: string }> {
  const buffer = new Uint8Array(1024);
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      text += decoder.decode(buffer.subarray(0, n));
    }
  } catch {
    // a reset is a close too
  } finally {
    conn.close();
  }
  return { ms: performance.now() - since, text };
}

/** Fails if `work` takes longer than `ms` (a bound on a test that must end by itself). */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) =>
    timer = setTimeout(() => reject(new Error(`${what} not within ${ms / 1000} s`)), ms)
  );
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("connections that never finish their request headers are closed; others are served meanwhile", async () => {
  await using _logs = await captureLogs();
  await using server = await serve();
  const started = performance.now();
  const partial = new TextEncoder().encode("GET /status.json HTTP/1.1\r\nHost: bridge\r\nAcc");
  const conns = await Promise.all(Array.from({ length: 50 }, async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port! });
    await conn.write(partial);
    return conn;
  }));
  const closing = Promise.all(conns.map((conn) => untilClosed(conn, started)));
  const { response, body } = await get(server, "/status.json");
  assert.equal(response.status, 200);
  assert.equal(JSON.parse(body).snapshot, null);
  const closed = await within(30_000, "closing 50 half-sent requests", closing);
  const seconds = closed.map(({ ms }) => ms / 1000);
  console.log(
    `50 half-sent requests closed after ${Math.min(...seconds).toFixed(1)} to ` +
      `${Math.max(...seconds).toFixed(1)} s (headers bound ${HTTP_LIMITS.headersMs / 1000} s)`,
  );
  for (const { text } of closed) assert.match(text, /^(HTTP\/1\.1 408 [^\r]*\r\n[^]*)?$/);
});

Deno.test("an idle keep-alive connection is closed after its last answer", async () => {
  await using _logs = await captureLogs();
  await using server = await serve();
  const opened = performance.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port! });
  await conn.write(new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: bridge\r\n\r\n"));
  const { ms, text } = await within(
    30_000,
    "closing an idle connection",
    untilClosed(conn, opened),
  );
  console.log(`idle connection closed ${(ms / 1000).toFixed(1)} s after it opened`);
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(text, /\r\n\r\nok\n$/);
});

Deno.test("connections beyond the bound are closed at once; the endpoint serves again when they go", async () => {
  await using _logs = await captureLogs();
  await using server = await serve();
  const connect = () => Deno.connect({ hostname: "127.0.0.1", port: server.port! });
  const held = [];
  for (let i = 0; i < HTTP_LIMITS.connections; i++) held.push(await connect());
  // Accepted in order: a request over the last held connection proves all were counted.
  const last = held.pop()!;
  await last.write(new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: b\r\n\r\n"));
  await last.read(new Uint8Array(1024));
  held.push(last);
  const beyond = await within(
    5000,
    "closing a connection beyond the bound",
    untilClosed(await connect(), 0),
  );
  assert.equal(beyond.text, "");
  held.forEach((conn) => conn.close());
  const after = await within(
    5000,
    "serving again",
    (async () => {
      while (true) {
        try {
          return await get(server, "/healthz");
        } catch {
          // closed: the server has not counted all held connections gone yet
        }
      }
    })(),
  );
  assert.equal(after.response.status, 200);
});

const TOKEN = "s3cr3t-token";

function basic(user: string, password: string): string {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

Deno.test("with http.auth_token, page, status.json and metrics need the token; probes stay open", async () => {
  await using logs = await captureLogs();
  await using server = await serve({ auth_token: TOKEN });
  for (const path of ["/", "/status.json", "/metrics"]) {
    for (const authorization of [undefined, "Bearer wrong", `Bearer ${TOKEN}x`, basic("u", "no")]) {
      const headers: HeadersInit = authorization === undefined ? {} : { authorization };
      const { response, body } = await get(server, path, { headers });
      assert.equal(response.status, 401, `${path} ${authorization}`);
      assert.equal(response.headers.get("www-authenticate"), 'Basic realm="kpm33b-bridge"');
      assert.equal(body, "unauthorized\n");
    }
    for (const authorization of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, basic("anyone", TOKEN)]) {
      const { response } = await get(server, path, { headers: { authorization } });
      assert.equal(response.status, 200, `${path} ${authorization}`);
    }
  }
  assert.equal((await get(server, "/healthz")).response.status, 200);
  assert.equal((await get(server, "/readyz")).response.status, 503);
  assert.equal((await get(server, "/nope")).response.status, 401);
  assert.equal(JSON.stringify(logs.lines).includes(TOKEN), false);
});

Deno.test("a changed http.auth_token applies without restart", async () => {
  await using _logs = await captureLogs();
  await using server = await serve();
  assert.equal((await get(server, "/metrics")).response.status, 200);
  server.reconfigure(configOn(server.port!, { auth_token: TOKEN }));
  assert.equal((await get(server, "/metrics")).response.status, 401);
  const headers = { authorization: `Bearer ${TOKEN}` };
  assert.equal((await get(server, "/metrics", { headers })).response.status, 200);
});

Deno.test("a host name other than localhost, or an address not of this machine, is one actionable error", async () => {
  await using logs = await captureLogs();
  for (const host of ["bridge.lan", "192.0.2.1"]) {
    const server = await HttpServer.start(configOn(freePort(), { host }));
    assert.equal(server.port, undefined);
    await server.stop(1000);
  }
  assert.deepEqual(
    logs.lines.filter((line) => line.level === "error").map((line) => line.properties.reason),
    [
      "http.host bridge.lan is a host name; the HTTP endpoint listens on an IP address: set " +
      "http.host to an address of this machine (0.0.0.0 for all interfaces, 127.0.0.1 for this " +
      "machine only); bridging goes on without the HTTP endpoint",
      "http.host 192.0.2.1 is not an address of this machine: set http.host (0.0.0.0 for all " +
      "interfaces) or http.enabled: false; bridging goes on without the HTTP endpoint",
    ],
  );
});
