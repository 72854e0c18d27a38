import assert from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };
import { Config } from "../../src/config/schema.ts";
import { HttpServer, type StatusDocument } from "../../src/http/http_server.ts";
import { bridgeSnapshot, meterStatus } from "../helpers/bridge_snapshot_fixture.ts";
import { captureLogs } from "../helpers/log_capture.ts";
import { freePort } from "../helpers/ports.ts";

const configOn = (port: number) => Config.parse({ http: { host: "127.0.0.1", port } });

/** An HttpServer on a free loopback port, stopped on dispose. */
function serve(): HttpServer & AsyncDisposable {
  const server = new HttpServer(configOn(freePort()));
  return Object.assign(server, { [Symbol.asyncDispose]: () => server.stop(1000) });
}

async function get(server: HttpServer, path: string, init?: RequestInit) {
  const response = await fetch(`http://127.0.0.1:${server.port}${path}`, init);
  return { response, body: await response.text() };
}

Deno.test("/healthz answers ok as soon as the server listens", async () => {
  await using _logs = await captureLogs();
  await using server = serve();
  const { response, body } = await get(server, "/healthz");
  assert.equal(response.status, 200);
  assert.equal(body, "ok\n");
  assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
});

Deno.test("/readyz is 503 with one reason a line until the bridge is ready, then 200", async () => {
  await using _logs = await captureLogs();
  await using server = serve();
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
  await using server = serve();
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
  await using server = serve();
  const { body } = await get(server, "/metrics");
  assert.ok(body.includes(`kpm33b_build_info{version="${denoJson.version}"} 1\n`));
  assert.ok(!body.includes("kpm33b_meters "));
});

Deno.test("/status.json carries snapshot, worker states and readiness", async () => {
  await using _logs = await captureLogs();
  await using server = serve();
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
  await using server = serve();
  const { response, body } = await get(server, "/");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
  assert.match(response.headers.get("content-security-policy")!, /default-src 'none'/);
  assert.ok(body.includes('<table id="meters">'));
});

Deno.test("unknown paths are 404, methods other than GET and HEAD are 405", async () => {
  await using _logs = await captureLogs();
  await using server = serve();
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
  const server = new HttpServer(configOn(port));
  assert.equal(server.port, undefined);
  const errors = logs.lines.filter((line) => line.level === "error");
  assert.equal(errors.length, 1);
  assert.equal(errors[0].category, "kpm33b.http");
  assert.equal(
    errors[0].properties.reason,
    `http.port ${port} is in use by another program: set http.port or http.enabled: false; ` +
      "bridging goes on without the HTTP endpoint",
  );
  server.onEvent({ type: "workers", workers: { proxy: "running" } });
  await server.stop(1000);
});

Deno.test("after stop the port is free again", async () => {
  await using _logs = await captureLogs();
  const server = serve();
  const port = server.port!;
  assert.equal((await get(server, "/healthz")).response.status, 200);
  await server.stop(1000);
  Deno.listen({ hostname: "127.0.0.1", port }).close();
});
