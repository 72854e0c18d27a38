import assert from "node:assert/strict";
import { renderStatusPage, STATUS_REFRESH_MS } from "../../src/http/status_page.ts";

const page = renderStatusPage();

Deno.test("the status page is one HTML document referencing no external resource", () => {
  assert.match(page, /^<!DOCTYPE html>/);
  assert.doesNotMatch(page, /https?:\/\//);
  assert.doesNotMatch(page, /<(link|img|iframe)\b/);
  assert.doesNotMatch(page, /<script[^>]*\bsrc=/);
  assert.doesNotMatch(page, /@import|url\(/);
});

Deno.test("the status page has the meters table and polls status.json every 5 s", () => {
  assert.match(page, /<table id="meters">[\s\S]*<tbody><\/tbody>/);
  assert.match(page, /new URL\("status\.json", location\.href\)/);
  assert.match(page, /fetch\(STATUS_URL, /);
  assert.equal(STATUS_REFRESH_MS, 5000);
  assert.ok(page.includes("const REFRESH_MS = 5000;"));
  assert.ok(page.includes("row.dataset.meter = meter.id;"));
});

Deno.test("the status page inserts bridge data as text, never as HTML", () => {
  assert.doesNotMatch(page, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  assert.ok(page.includes(".textContent = "));
});

Deno.test("the status page's script is valid JavaScript", () => {
  const [, script] = page.match(/<script>([\s\S]*)<\/script>/) ?? [];
  assert.ok(script !== undefined, "the page has a script");
  assert.doesNotThrow(() => new Function(script));
});

Deno.test("under a path prefix the page fetches status.json below it; a prefix that is no plain path is refused", () => {
  const prefixed = renderStatusPage("/api/hassio_ingress/abc-DEF_1");
  assert.ok(prefixed.includes('<meta name="path-prefix" content="/api/hassio_ingress/abc-DEF_1">'));
  assert.ok(prefixed.includes('new URL(PREFIX.content + "/status.json", location.href)'));
  assert.doesNotMatch(page, /<meta name="path-prefix"/);
  for (const bad of ["", "/", "relative", "/a/", '/a"><script>', "//host"]) {
    assert.throws(() => renderStatusPage(bad), RangeError, bad);
  }
});
