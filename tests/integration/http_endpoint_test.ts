/**
 * The running bridge's HTTP endpoint, in its worker with its scoped
 * permissions: connections that never finish their request headers are
 * closed, and `http.auth_token` (from the environment) guards the page,
 * status.json and metrics but not the probes, and is never logged.
 */
import assert from "node:assert/strict";
import { startBridge } from "../helpers/bridge.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { freePort } from "../helpers/ports.ts";

const TOKEN = "it-token-5f2c9a";

Deno.test("the bridge closes half-sent requests, serves with the token meanwhile, and keeps probes open", async () => {
  await using internal = await startMosquitto();
  await using central = await startMosquitto();
  const port = freePort();
  await using bridge = await startBridge(
    [
      `internal_broker: { url: "${internal.url}" }`,
      `central_broker: { url: "${central.url}" }`,
      `http: { host: 127.0.0.1, port: ${port}, auth_token: "\${KPM33B_HTTP_TOKEN}" }`,
      "logging: { format: json, level: debug, stats_interval_seconds: 0 }",
      "",
    ].join("\n"),
    { KPM33B_HTTP_TOKEN: TOKEN },
  );
  await bridge.waitForLog((l) => l.message === "Bridge state online", "the bridge online");
  await bridge.waitForLog(
    (l) => String(l.message).startsWith("Status page and metrics on"),
    "the HTTP endpoint listening",
  );
  const base = `http://127.0.0.1:${port}`;
  const bearer = { authorization: `Bearer ${TOKEN}` };

  const started = performance.now();
  const partial = new TextEncoder().encode("GET /metrics HTTP/1.1\r\nHost: bridge\r\nAuthor");
  const conns = await Promise.all(Array.from({ length: 50 }, async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(partial);
    return conn;
  }));
  const closing = Promise.all(conns.map(async (conn) => {
    const buffer = new Uint8Array(1024);
    try {
      while (await conn.read(buffer) !== null) { /* until the server closes it */ }
    } catch {
      // a reset is a close too
    } finally {
      conn.close();
    }
    return performance.now() - started;
  }));
  const during = await fetch(`${base}/metrics`, { headers: bearer });
  assert.equal(during.status, 200);
  assert.match(await during.text(), /^# HELP /m);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const closed = await Promise.race([
    closing,
    new Promise<never>((_, reject) =>
      timer = setTimeout(
        () => reject(new Error("half-sent requests still open after 30 s")),
        30_000,
      )
    ),
  ]).finally(() => clearTimeout(timer));
  console.log(
    `50 half-sent requests closed by the bridge after ${(Math.min(...closed) / 1000).toFixed(1)} ` +
      `to ${(Math.max(...closed) / 1000).toFixed(1)} s`,
  );

  for (const path of ["/", "/status.json", "/metrics"]) {
    const refused = await fetch(`${base}${path}`);
    assert.equal(refused.status, 401, path);
    assert.equal(refused.headers.get("www-authenticate"), 'Basic realm="kpm33b-bridge"');
    assert.equal(await refused.text(), "unauthorized\n");
    const basic = await fetch(`${base}${path}`, {
      headers: { authorization: `Basic ${btoa(`prometheus:${TOKEN}`)}` },
    });
    assert.equal(basic.status, 200, path);
    await basic.body?.cancel();
  }
  const healthz = await fetch(`${base}/healthz`);
  assert.equal(await healthz.text(), "ok\n");
  const readyz = await fetch(`${base}/readyz`);
  assert.equal(readyz.status, 200, await readyz.text());

  const { code } = await bridge.stop("SIGTERM");
  assert.equal(code, 0, bridge.output());
  assert.equal(bridge.output().includes(TOKEN), false, "the token appears in the bridge's output");
});

Deno.test("/readyz has the proxy's status as soon as the bridge state is online, and is ready once every worker runs", async () => {
  await using internal = await startMosquitto();
  await using central = await startMosquitto();
  const port = freePort();
  await using bridge = await startBridge(
    [
      `internal_broker: { url: "${internal.url}" }`,
      `central_broker: { url: "${central.url}" }`,
      `http: { host: 127.0.0.1, port: ${port} }`,
      "logging: { format: json, level: info, stats_interval_seconds: 0 }",
      "",
    ].join("\n"),
  );
  await bridge.waitForLog((l) => l.message === "Bridge state online", "the bridge online");
  await bridge.waitForLog(
    (l) => String(l.message).startsWith("Status page and metrics on"),
    "the HTTP endpoint listening",
  );
  // The proxy's status is there at once (before, readiness waited for its next periodic
  // snapshot, about 2 s); another worker may still be starting.
  const readyz = async () => await (await fetch(`http://127.0.0.1:${port}/readyz`)).text();
  const first = await readyz();
  assert.doesNotMatch(first, /no status from the proxy/);
  assert.match(first, /^(ready|worker \w+ is starting)\n/, `unexpected readiness: ${first}`);
  // And ready once every worker runs.
  let answer = first;
  const deadline = Date.now() + 10_000;
  while (answer !== "ready\n" && Date.now() < deadline) answer = await readyz();
  assert.equal(answer, "ready\n");
});
