/**
 * The status page in a real browser: headless Debian Chromium loads `/` from
 * an HttpServer fed a synthetic snapshot, runs the page's script and renders
 * the meters table; the DOM and a screenshot are checked.
 */
import assert from "node:assert/strict";
import { Config } from "../../src/config/schema.ts";
import { HttpServer } from "../../src/http/http_server.ts";
import type { OutboxProblem } from "../../src/outbox/outbox_problem.ts";
import { bridgeSnapshot, meterStatus, outboxProblem } from "../helpers/bridge_snapshot_fixture.ts";
import { captureLogs } from "../helpers/log_capture.ts";
import { freePort } from "../helpers/ports.ts";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_TIMEOUT_MS = 30_000;
const WIDTH = 1280;
const HEIGHT = 800;

const ONLINE = "33B1225950027";
const OFFLINE = "33B1225950031";

async function assertChromiumInstalled(): Promise<void> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(
      `${CHROMIUM} not found: install the Debian chromium package (apt-get install chromium)`,
    );
  }
}

/** Runs headless Chromium with a fresh profile; returns its stdout. Killed after 30 s. */
async function chromium(args: string[]): Promise<string> {
  const profile = await Deno.makeTempDir({ prefix: "kpm33b-chromium-" });
  try {
    const child = new Deno.Command(CHROMIUM, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
        `--window-size=${WIDTH},${HEIGHT}`,
        "--virtual-time-budget=5000",
        ...args,
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let overran = false;
    const timer = setTimeout(() => {
      overran = true;
      child.kill("SIGKILL");
    }, CHROMIUM_TIMEOUT_MS);
    const output = await child.output();
    clearTimeout(timer);
    const stderr = new TextDecoder().decode(output.stderr);
    if (overran) {
      throw new Error(
        `chromium did not finish within ${CHROMIUM_TIMEOUT_MS / 1000} s:\n${stderr}`,
      );
    }
    if (!output.success) throw new Error(`chromium exited with ${output.code}:\n${stderr}`);
    return new TextDecoder().decode(output.stdout);
  } finally {
    await Deno.remove(profile, { recursive: true });
  }
}

/** An 8-bit RGB or RGBA PNG decoded to pixels. */
interface Image {
  readonly width: number;
  readonly height: number;
  /** Bytes per pixel: 3 (RGB) or 4 (RGBA). */
  readonly channels: number;
  readonly pixels: Uint8Array;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Decodes a non-interlaced 8-bit RGB(A) PNG, as Chromium writes screenshots. */
async function decodePng(bytes: Uint8Array): Promise<Image> {
  assert.deepEqual([...bytes.subarray(0, 8)], PNG_SIGNATURE, "not a PNG file");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const idat: Uint8Array[] = [];
  let header: { width: number; height: number; channels: number } | undefined;
  for (let offset = 8; offset < bytes.length;) {
    const length = view.getUint32(offset);
    const type = new TextDecoder().decode(bytes.subarray(offset + 4, offset + 8));
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") {
      const [depth, colourType, , , interlace] = data.subarray(8, 13);
      assert.equal(depth, 8, "bit depth");
      assert.equal(interlace, 0, "interlace");
      assert.ok(colourType === 2 || colourType === 6, `colour type ${colourType}`);
      header = {
        width: view.getUint32(offset + 8),
        height: view.getUint32(offset + 12),
        channels: colourType === 6 ? 4 : 3,
      };
    } else if (type === "IDAT") {
      idat.push(data);
    }
    offset += 12 + length;
  }
  assert.ok(header, "no IHDR chunk");
  const inflated = new Uint8Array(
    await new Response(
      new Blob(idat as BlobPart[]).stream().pipeThrough(new DecompressionStream("deflate")),
    ).arrayBuffer(),
  );
  const { width, height, channels } = header;
  const stride = width * channels;
  const pixels = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = inflated[y * (stride + 1)] ?? 0;
    const line = inflated.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const i = y * stride + x;
      // Bytes left of and above the image count as 0.
      const left = x >= channels ? pixels[i - channels] ?? 0 : 0;
      const up = y > 0 ? pixels[i - stride] ?? 0 : 0;
      const upLeft = x >= channels && y > 0 ? pixels[i - stride - channels] ?? 0 : 0;
      const predictor = [0, left, up, (left + up) >> 1, paeth(left, up, upLeft)][filter];
      assert.ok(predictor !== undefined, `PNG filter type ${filter}`);
      pixels[i] = (line[x] ?? 0) + predictor;
    }
  }
  return { width, height, channels, pixels };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** How many pixels satisfy `test` on their red, green and blue values. */
function countPixels(image: Image, test: (r: number, g: number, b: number) => boolean): number {
  let count = 0;
  for (let i = 0; i < image.pixels.length; i += image.channels) {
    const [r = 0, g = 0, b = 0] = image.pixels.subarray(i, i + 3);
    if (test(r, g, b)) count++;
  }
  return count;
}

/**
 * An HttpServer on a free port that knows two meters, one online and one
 * failing, and the outbox `problem`, if any.
 */
async function statusServer(
  problem: OutboxProblem | null = null,
  http: Record<string, unknown> = {},
): Promise<HttpServer & AsyncDisposable> {
  const server = await HttpServer.start(
    Config.parse({ http: { host: "127.0.0.1", port: freePort(), ...http } }),
  );
  const now = new Date();
  server.onEvent({
    type: "snapshot",
    snapshot: bridgeSnapshot(now, {
      outbox: { depth: 0, bytes: 0, dropped: 0, durable: true, problem },
      meter_counts: { known: 2, online: 1 },
      meters: [
        meterStatus({
          id: ONLINE,
          name: "Main board",
          last_seen: new Date(now.getTime() - 4000).toISOString(),
          values: { active_power: 3.217, active_energy: 12345.678 },
          implausible: 1,
          last_implausible: "time 20991231235959 is 73 years ahead of the gateway clock",
        }),
        meterStatus({
          id: OFFLINE,
          name: "<b>Heat pump</b> & co",
          model: "KPM31",
          availability: "offline",
          last_seen: null,
          values: {},
          clock_drift_seconds: null,
          configuration: "failed",
          last_error: "seconds interval 60 s: no acknowledgement after 3 attempts",
        }),
      ],
    }),
  });
  server.onEvent({
    type: "workers",
    workers: { proxy: "running", config_sender: "running", http: "running" },
  });
  return Object.assign(server, { [Symbol.asyncDispose]: () => server.stop(1000) });
}

Deno.test("with http.auth_token the page, given the token by Basic auth, fetches status.json too", async () => {
  await assertChromiumInstalled();
  await using _logs = await captureLogs();
  await using server = await statusServer(null, { auth_token: "page-token" });
  const refused = await chromium(["--dump-dom", `http://127.0.0.1:${server.port}/`]);
  assert.doesNotMatch(refused, /data-meter=/);
  const dom = await chromium([
    "--dump-dom",
    `http://viewer:page-token@127.0.0.1:${server.port}/`,
  ]);
  assert.match(dom, new RegExp(`<tr data-meter="${ONLINE}">`), dom);
  assert.match(dom, new RegExp(`<tr data-meter="${OFFLINE}">`), dom);
});

Deno.test("Chromium renders every meter of /status.json in the status page's table", async () => {
  await assertChromiumInstalled();
  await using _logs = await captureLogs();
  await using server = await statusServer();
  const dom = await chromium(["--dump-dom", `http://127.0.0.1:${server.port}/`]);

  const row = (id: string) => dom.match(new RegExp(`<tr data-meter="${id}">(.*?)</tr>`))?.[1];
  const online = row(ONLINE);
  const offline = row(OFFLINE);
  assert.ok(online, `no row for ${ONLINE} in:\n${dom}`);
  assert.ok(offline, `no row for ${OFFLINE} in:\n${dom}`);
  for (
    const expected of [ONLINE, "Main board", "KPM33B", "online", "4 s ago", "3.217 kW"]
  ) assert.ok(online.includes(`>${expected}<`), `${expected} missing in ${online}`);
  assert.ok(online.includes(">12345.68 kWh<"));
  assert.ok(online.includes(">+2 s<"));
  assert.ok(online.includes(">configured<"));
  assert.ok(
    online.includes(
      ">reading rejected: time 20991231235959 is 73 years ahead of the gateway clock<",
    ),
    online,
  );
  // The name is shown as text: its markup is escaped, not interpreted.
  assert.ok(offline.includes(">&lt;b&gt;Heat pump&lt;/b&gt; &amp; co<"), offline);
  assert.ok(!dom.includes("<b>Heat pump</b>"));
  for (
    const expected of ["offline", "never", "failed", "seconds interval 60 s: no acknowledgement"]
  ) assert.ok(offline.includes(`>${expected}`), `${expected} missing in ${offline}`);

  assert.match(dom, /<dd id="version"[^>]*>1\.2\.3<\/dd>/);
  assert.match(dom, /<dd id="uptime"[^>]*>1 h 0 min<\/dd>/);
  assert.match(dom, /<dd id="internal" class="ok">connected<\/dd>/);
  assert.match(dom, /<dd id="ready" class="ok">ready<\/dd>/);
  assert.match(dom, /<section id="outbox-problem" hidden="">/, "no outbox problem shown");
});

Deno.test("Chromium shows an outbox problem with what to do, and the bridge as not ready", async () => {
  await assertChromiumInstalled();
  await using _logs = await captureLogs();
  const problem = outboxProblem(new Date());
  await using server = await statusServer(problem);
  const dom = await chromium(["--dump-dom", `http://127.0.0.1:${server.port}/`]);

  assert.match(dom, /<section id="outbox-problem">/, "shown");
  assert.match(dom, /<span id="outbox-problem-kind"[^>]*>empty<\/span>/);
  assert.ok(dom.includes(`>${problem.message}<`), `the message is missing in:\n${dom}`);
  assert.match(dom, /shown until acknowledged \(bridge API request outbox\/acknowledge\)/);
  assert.match(dom, /<dd id="ready" class="bad">not ready<\/dd>/);
  assert.match(dom, /<li>outbox \/var\/lib\/kpm33b\/outbox\.sqlite found empty at start/);
});

Deno.test("a screenshot of the status page is a full-size, non-blank picture", async () => {
  await assertChromiumInstalled();
  await using _logs = await captureLogs();
  await using server = await statusServer();
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-screenshot-" });
  try {
    const file = `${dir}/page.png`;
    await chromium([`--screenshot=${file}`, `http://127.0.0.1:${server.port}/`]);
    const image = await decodePng(await Deno.readFile(file));
    assert.equal(image.width, WIDTH);
    assert.equal(image.height, HEIGHT);
    const background = countPixels(image, (r, g, b) => r === 255 && g === 255 && b === 255);
    const ink = countPixels(image, (r, g, b) => r < 160 && g < 160 && b < 160);
    // Availability and state colours: "online" / "configured" / "ready" green, "offline" /
    // "failed" / the last error red.
    const green = countPixels(image, (r, g, b) => g > r + 50 && g > b + 40);
    const red = countPixels(image, (r, g, b) => r > g + 100 && r > b + 100);
    const total = WIDTH * HEIGHT;
    assert.ok(background > total / 2, `white background: ${background} of ${total} pixels`);
    assert.ok(ink > 3000, `dark text: ${ink} pixels`);
    assert.ok(green > 300, `green text: ${green} pixels`);
    assert.ok(red > 300, `red text: ${red} pixels`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Home Assistant's ingress in front of `server`, on a free loopback port:
 * `prefix` and below are forwarded with `X-Ingress-Path: prefix`, `/` is a
 * page of the same origin showing `prefix` (without its trailing slash) in a
 * frame, as Home Assistant's frontend does. Records the paths asked for.
 */
function ingressProxy(server: HttpServer, prefix: string) {
  const paths: string[] = [];
  const port = freePort();
  const proxy = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (request) => {
    const { pathname } = new URL(request.url);
    paths.push(pathname);
    if (pathname === "/") {
      return new Response(`<!DOCTYPE html><iframe src="${prefix}"></iframe>`, {
        headers: { "content-type": "text/html" },
      });
    }
    if (pathname !== prefix && !pathname.startsWith(`${prefix}/`)) {
      return new Response("not found", { status: 404 });
    }
    const upstream = await fetch(
      `http://127.0.0.1:${server.port}/${pathname.slice(prefix.length + 1)}`,
      { headers: { "x-ingress-path": prefix } },
    );
    return new Response(await upstream.arrayBuffer(), {
      status: upstream.status,
      headers: upstream.headers,
    });
  });
  return { url: `http://127.0.0.1:${port}`, paths, [Symbol.asyncDispose]: () => proxy.shutdown() };
}

Deno.test("behind Home Assistant's ingress the page loads in its frame and fetches status.json below the prefix", async () => {
  await assertChromiumInstalled();
  await using _logs = await captureLogs();
  await using server = await statusServer();
  const prefix = "/api/hassio_ingress/9xQ-ingress_token";
  await using proxy = ingressProxy(server, prefix);

  // Opened without the trailing slash, as the prefix itself.
  const dom = await chromium(["--dump-dom", `${proxy.url}${prefix}`]);
  assert.match(dom, new RegExp(`<tr data-meter="${ONLINE}">`), dom);

  proxy.paths.length = 0;
  await chromium(["--dump-dom", `${proxy.url}/`]);
  assert.ok(proxy.paths.includes(prefix), proxy.paths.join(", "));
  assert.ok(
    proxy.paths.includes(`${prefix}/status.json`),
    `the framed page did not fetch its status: ${proxy.paths.join(", ")}`,
  );
  assert.ok(!proxy.paths.includes("/api/hassio_ingress/status.json"), proxy.paths.join(", "));
});
