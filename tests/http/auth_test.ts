import assert from "node:assert/strict";
import { authorized, CHALLENGE } from "../../src/http/auth.ts";

const TOKEN = "s3cr3t:ä-token";

function basic(credentials: string): string {
  const bytes = new TextEncoder().encode(credentials);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

Deno.test("a bearer token is accepted only when it is the token", () => {
  assert.equal(authorized(`Bearer ${TOKEN}`, TOKEN), true);
  assert.equal(authorized(`bearer  ${TOKEN} `, TOKEN), true);
  assert.equal(authorized(`Bearer ${TOKEN}x`, TOKEN), false);
  assert.equal(authorized(`Bearer ${TOKEN.slice(0, -1)}`, TOKEN), false);
  assert.equal(authorized("Bearer", TOKEN), false);
  assert.equal(authorized(`Token ${TOKEN}`, TOKEN), false);
  assert.equal(authorized(undefined, TOKEN), false);
  assert.equal(authorized("", TOKEN), false);
});

Deno.test("Basic takes any user name and the token as password (UTF-8, colons in it)", () => {
  assert.equal(authorized(basic(`admin:${TOKEN}`), TOKEN), true);
  assert.equal(authorized(basic(`:${TOKEN}`), TOKEN), true);
  assert.equal(authorized(basic(`${TOKEN}:`), TOKEN), false);
  assert.equal(authorized(basic(TOKEN), TOKEN), false);
  assert.equal(authorized(basic("admin:wrong"), TOKEN), false);
  assert.equal(authorized("Basic !!not-base64!!", TOKEN), false);
});

Deno.test("the challenge makes browsers ask for the token", () => {
  assert.equal(CHALLENGE, 'Basic realm="kpm33b-bridge"');
});
