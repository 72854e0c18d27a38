import assert from "node:assert/strict";
import fc from "fast-check";
import { type EnvLookup, interpolate } from "../../src/config/interpolate.ts";

const VARS: Record<string, string> = { HOST: "broker", PORT: "1883", EMPTY: "", WEIRD: "a}b${C}" };
const env: EnvLookup = (name) => VARS[name];

function ok(text: string, lookup: EnvLookup = env): string {
  const result = interpolate(text, lookup);
  assert.equal(result.ok, true, JSON.stringify(result));
  return (result as { value: string }).value;
}

function error(text: string, lookup: EnvLookup = env): string {
  const result = interpolate(text, lookup);
  assert.equal(result.ok, false, JSON.stringify(result));
  return (result as { error: string }).error;
}

Deno.test("text without references is unchanged", () => {
  for (const text of ["", "plain", "$HOME", "cost: $5", "{braces}", "$", "$$", "a$b{c}"]) {
    assert.equal(ok(text), text);
  }
});

Deno.test("${VAR} is replaced", () => {
  assert.equal(ok("${HOST}"), "broker");
  assert.equal(ok("mqtt://${HOST}:${PORT}"), "mqtt://broker:1883");
  assert.equal(ok("${PORT}${PORT}"), "18831883");
});

Deno.test("values are inserted literally, not interpolated again", () => {
  assert.equal(ok("x${WEIRD}y"), "xa}b${C}y");
});

Deno.test("${VAR:-default} uses the default when unset or empty", () => {
  assert.equal(ok("${NOPE:-1884}"), "1884");
  assert.equal(ok("${EMPTY:-fallback}"), "fallback");
  assert.equal(ok("${PORT:-9999}"), "1883");
  assert.equal(ok("${NOPE:-}"), "");
  assert.equal(ok("mqtt://${NOPE:-localhost}:${PORT}"), "mqtt://localhost:1883");
  assert.equal(ok("${NOPE:-a b:c/d}"), "a b:c/d");
});

Deno.test("$${ writes a literal ${", () => {
  assert.equal(ok("$${HOST}"), "${HOST}");
  assert.equal(ok("pa$${ss"), "pa${ss");
  assert.equal(ok("$${HOST} ${HOST}"), "${HOST} broker");
});

Deno.test("a missing variable is an error naming it", () => {
  assert.equal(
    error("${NOPE}"),
    "environment variable NOPE is not set (use ${NOPE:-default} to give a default)",
  );
  assert.equal(
    error("${EMPTY}"),
    "environment variable EMPTY is not set (use ${EMPTY:-default} to give a default)",
  );
  // The first problem is reported.
  assert.match(error("${A1} ${A2}"), /^environment variable A1 /);
});

Deno.test("malformed references are errors", () => {
  for (
    const text of [
      "${BAD-NAME}",
      "${1ABC}",
      "${}",
      "${HOST",
      "abc ${",
      "${ HOST }",
      "${HOST:default}",
    ]
  ) {
    const message = error(text);
    assert.match(message, /is not a valid reference; use \$\{NAME\} or \$\{NAME:-default\}$/, text);
  }
  assert.equal(
    error("${BAD-NAME}"),
    '"${BAD-NAME}" is not a valid reference; use ${NAME} or ${NAME:-default}',
  );
});

Deno.test("in a secret, a malformed reference is not quoted", () => {
  for (const text of ["${Hunter2 secret", "pre${fix", "${BAD-NAME:-Hunter2}", "${}Hunter2"]) {
    const result = interpolate(text, env, true);
    assert.equal(result.ok, false, text);
    const message = (result as { error: string }).error;
    assert.equal(
      message,
      "holds a ${ that starts no valid reference; use ${NAME} or ${NAME:-default}, " +
        "or $${ for a literal ${ (value not shown: it is a secret)",
    );
  }
  // A missing variable is named: the name is no secret.
  assert.equal(
    (interpolate("${NOPE}Hunter2", env, true) as { error: string }).error,
    "environment variable NOPE is not set (use ${NOPE:-default} to give a default)",
  );
});

Deno.test("the environment is only asked for referenced names", () => {
  const asked: string[] = [];
  ok("${HOST} and ${NOPE:-x} and $${PORT}", (name) => {
    asked.push(name);
    return VARS[name];
  });
  assert.deepEqual(asked, ["HOST", "NOPE"]);
});

Deno.test("property: $-free text round-trips and ${NAME} always resolves to the value", () => {
  fc.assert(
    fc.property(
      fc.string().filter((s) => !s.includes("$")),
      fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/),
      fc.string({ minLength: 1 }),
      (text, name, value) => {
        assert.equal(ok(text), text);
        const lookup: EnvLookup = (n) => n === name ? value : undefined;
        assert.equal(ok(`${text}\${${name}}${text}`, lookup), `${text}${value}${text}`);
      },
    ),
    { numRuns: 300 },
  );
});
