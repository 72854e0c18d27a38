/**
 * The status page at `/`: one self-contained HTML document (inline CSS and
 * script, no external resources, no build step) that polls `status.json`
 * and shows the bridge and its meters. Pure: the page is a constant.
 *
 * Everything from the bridge is inserted with `textContent`, never as HTML:
 * meter names and error texts come from configuration and from meters.
 *
 * Behind a path prefix (Home Assistant's ingress) every URL is relative, and
 * the one built absolute, `status.json`'s, starts with the prefix the proxy
 * names: opened without the prefix's trailing slash, a relative URL would
 * miss it.
 *
 * @module
 */

/** How often the page refreshes, in milliseconds. */
export const STATUS_REFRESH_MS = 5000;

const STYLE = `
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --line: #8884; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; padding: 1rem 1.5rem; }
header { display: flex; flex-wrap: wrap; gap: .5rem 2rem; align-items: baseline; }
h1 { font-size: 1.3rem; margin: 0 1rem 0 0; }
dl { display: flex; flex-wrap: wrap; gap: .25rem 1.5rem; margin: 0; }
dt { color: GrayText; }
dd { margin: 0 0 0 .3rem; font-weight: 600; }
dt, dd { display: inline; }
#reasons { margin: .5rem 0 0; padding-left: 1.2rem; color: var(--bad); }
#error { color: var(--bad); margin: .5rem 0 0; }
table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); }
th { font-weight: 600; white-space: nowrap; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.ok { color: var(--ok); }
.bad { color: var(--bad); }
.warn { color: var(--warn); }
#summary { margin: .75rem 0 0; color: GrayText; }
#outbox-problem { margin: .75rem 0 0; padding: .5rem .75rem; border: 1px solid var(--bad); }
#outbox-problem h2 { font-size: 1rem; margin: 0 0 .25rem; color: var(--bad); }
#outbox-problem p { margin: 0; }
#outbox-problem p + p { margin-top: .25rem; color: GrayText; }
`;

const SCRIPT = `
"use strict";
const REFRESH_MS = ${STATUS_REFRESH_MS};
const $ = (id) => document.getElementById(id);

function text(element, value, cls) {
  element.textContent = value;
  element.className = cls || "";
}

function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
}

function fixed(value, digits, unit) {
  return typeof value === "number" ? value.toFixed(digits) + " " + unit : "\\u2014";
}

function cell(row, value, cls, title) {
  const td = document.createElement("td");
  td.textContent = value;
  if (cls) td.className = cls;
  if (title) td.title = title;
  row.appendChild(td);
}

const CONFIGURATION_CLASS = { configured: "ok", failed: "bad", configuring: "warn", pending: "warn" };

function meterRow(meter, takenAt) {
  const row = document.createElement("tr");
  row.dataset.meter = meter.id;
  const values = meter.values || {};
  const lastSeen = meter.last_seen === null
    ? "never"
    : duration((takenAt - Date.parse(meter.last_seen)) / 1000) + " ago";
  const drift = meter.clock_drift_seconds;
  cell(row, meter.id);
  cell(row, meter.name);
  cell(row, meter.model);
  cell(row, meter.availability, meter.availability === "online" ? "ok" : "bad");
  cell(row, lastSeen, "", meter.last_seen || "");
  cell(row, fixed(values.active_power, 3, "kW"), "num");
  cell(row, fixed(values.active_energy, 2, "kWh"), "num");
  cell(row, typeof drift === "number" ? (drift > 0 ? "+" : "") + drift + " s" : "\\u2014", "num");
  cell(row, meter.configuration, CONFIGURATION_CLASS[meter.configuration]);
  // A command failure, else why the meter's last implausible reading was rejected.
  const error = meter.last_error ||
    (meter.last_implausible ? "reading rejected: " + meter.last_implausible : "");
  cell(row, error || "\\u2014", error ? "bad" : "");
  return row;
}

function renderOutboxProblem(problem) {
  $("outbox-problem").hidden = !problem;
  if (!problem) return;
  text($("outbox-problem-kind"), problem.kind.replace("_", " "));
  text($("outbox-problem-message"), problem.message);
  text($("outbox-problem-since"), "Found " + new Date(problem.since).toLocaleString() +
    "; shown until acknowledged (bridge API request outbox/acknowledge) or a start that finds " +
    "the outbox in order.");
}

function render(status) {
  const snapshot = status.snapshot;
  renderOutboxProblem(snapshot && snapshot.outbox.problem);
  text($("ready"), status.ready ? "ready" : "not ready", status.ready ? "ok" : "bad");
  const reasons = $("reasons");
  reasons.replaceChildren(...status.reasons.map((reason) => {
    const li = document.createElement("li");
    li.textContent = reason;
    return li;
  }));
  const rows = [];
  if (snapshot) {
    const takenAt = Date.parse(snapshot.taken_at);
    text($("version"), snapshot.version);
    text($("uptime"), duration((takenAt - Date.parse(snapshot.started_at)) / 1000));
    for (const broker of ["internal", "central"]) {
      const up = snapshot.brokers[broker];
      text($(broker), up ? "connected" : "disconnected", up ? "ok" : "bad");
    }
    const meters = [...snapshot.meters].sort((a, b) => a.id.localeCompare(b.id));
    for (const meter of meters) rows.push(meterRow(meter, takenAt));
    const counts = snapshot.meter_counts;
    const listed = meters.length < counts.known
      ? " (the first " + meters.length + " by id listed)"
      : "";
    text($("summary"), counts.known + " meters, " + counts.online + " online" + listed +
      "; outbox " + snapshot.outbox.depth + " waiting; as of " +
      new Date(takenAt).toLocaleString());
  } else {
    text($("summary"), "Waiting for the first status from the proxy\\u2026");
  }
  $("meters").tBodies[0].replaceChildren(...rows);
}

// Under a path prefix (Home Assistant's ingress) the server names it: the page may have been
// opened without the prefix's trailing slash, where "status.json" would resolve beside it.
const PREFIX = document.querySelector('meta[name="path-prefix"]');
// Without the user info of a page opened with user:token@ in its address: fetch refuses URLs
// with credentials, and the browser sends the ones it has to the same origin anyway.
const STATUS_URL = PREFIX
  ? new URL(PREFIX.content + "/status.json", location.href)
  : new URL("status.json", location.href);
STATUS_URL.username = "";
STATUS_URL.password = "";

async function refresh() {
  try {
    const response = await fetch(STATUS_URL, { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    render(await response.json());
    text($("error"), "");
  } catch (error) {
    text($("error"), "Cannot reach the bridge: " + error.message);
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();
`;

const PAGE = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kpm33b-bridge</title>
<!--prefix--><style>${STYLE}</style>
</head>
<body>
<header>
<h1>kpm33b-bridge</h1>
<dl>
<div><dt>Version</dt><dd id="version">\u2014</dd></div>
<div><dt>Uptime</dt><dd id="uptime">\u2014</dd></div>
<div><dt>Internal broker</dt><dd id="internal">\u2014</dd></div>
<div><dt>Central broker</dt><dd id="central">\u2014</dd></div>
<div><dt>Readiness</dt><dd id="ready">\u2014</dd></div>
</dl>
</header>
<ul id="reasons"></ul>
<p id="error"></p>
<section id="outbox-problem" hidden>
<h2>Outbox problem: <span id="outbox-problem-kind"></span></h2>
<p id="outbox-problem-message"></p>
<p id="outbox-problem-since"></p>
</section>
<p id="summary">Loading\u2026</p>
<table id="meters">
<thead>
<tr><th>Meter</th><th>Name</th><th>Model</th><th>Availability</th><th>Last seen</th>
<th class="num">Active power</th><th class="num">Energy</th><th class="num">Clock drift</th>
<th>Configuration</th><th>Last error</th></tr>
</thead>
<tbody></tbody>
</table>
<script>${SCRIPT}</script>
</body>
</html>
`;

/** A path prefix the page may be served under: absolute, without a trailing slash. */
export const PATH_PREFIX = /^(\/[A-Za-z0-9._~-]+)+$/;

/**
 * The HTML of the status page; `pathPrefix` (matching {@link PATH_PREFIX}) when
 * a proxy serves it under one, e.g. `/api/hassio_ingress/<token>`.
 *
 * @throws {RangeError} when `pathPrefix` does not match {@link PATH_PREFIX}
 */
export function renderStatusPage(pathPrefix?: string): string {
  if (pathPrefix === undefined) return PAGE.replace("<!--prefix-->", "");
  if (!PATH_PREFIX.test(pathPrefix)) throw new RangeError(`not a path prefix: ${pathPrefix}`);
  return PAGE.replace("<!--prefix-->", `<meta name="path-prefix" content="${pathPrefix}">\n`);
}
