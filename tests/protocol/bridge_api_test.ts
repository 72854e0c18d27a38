import assert from "node:assert/strict";
import {
  API_ACTIONS,
  ApiResponse,
  errorResponse,
  isRejected,
  MAX_REQUEST_BYTES,
  okResponse,
  parseRequest,
  requestFilter,
  responseTopic,
} from "../../src/protocol/bridge_api.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const parse = (action: string, payload = "") =>
  parseRequest("kpm33b", `kpm33b/bridge/request/${action}`, bytes(payload));

function errorOf(action: string, payload = "") {
  const result = parse(action, payload);
  assert.ok(isRejected(result), `${action} ${payload} should be rejected`);
  return result;
}

Deno.test("topics: requests under bridge/request, answers under bridge/response", () => {
  assert.equal(requestFilter("site/kpm33b"), "site/kpm33b/bridge/request/#");
  assert.equal(
    responseTopic("kpm33b", "meter/sync_time"),
    "kpm33b/bridge/response/meter/sync_time",
  );
  assert.deepEqual(API_ACTIONS, [
    "health",
    "config/reload",
    "outbox/acknowledge",
    "meter/sync_time",
    "meter/read_interval",
    "meter/reset_history",
    "meter/set_interval",
  ]);
});

Deno.test("valid requests parse, with an empty payload meaning {}", () => {
  assert.deepEqual(parse("health"), { action: "health" });
  assert.deepEqual(parse("config/reload", '{"transaction":7}'), {
    action: "config/reload",
    transaction: 7,
  });
  assert.deepEqual(parse("outbox/acknowledge"), { action: "outbox/acknowledge" });
  assert.deepEqual(parse("meter/sync_time", '{"id":"33B1225950027","transaction":"a"}'), {
    action: "meter/sync_time",
    id: "33B1225950027",
    transaction: "a",
  });
  assert.deepEqual(parse("meter/set_interval", '{"id":"33B1225950027","seconds":30}'), {
    action: "meter/set_interval",
    id: "33B1225950027",
    seconds: 30,
  });
});

Deno.test("invalid requests get an actionable error and echo a readable transaction", () => {
  const notJson = errorOf("health", "{nope");
  assert.equal(
    notJson.response.error,
    'request is not JSON; send an object such as {"transaction":"1"}',
  );
  assert.equal(errorOf("health", "[1]").response.error, "request must be a JSON object");
  const unknown = errorOf("meter/explode", '{"transaction":"t1"}');
  assert.equal(unknown.action, "meter/explode");
  assert.deepEqual(unknown.response, {
    status: "error",
    data: {},
    error: 'unknown action "meter/explode"; actions: health, config/reload, outbox/acknowledge, ' +
      "meter/sync_time, meter/read_interval, meter/reset_history, meter/set_interval",
    transaction: "t1",
  });
  assert.match(
    errorOf("meter/set_interval", '{"id":"33B1225950027","seconds":45,"transaction":2}')
      .response.error!,
    /^seconds: .*45 is not one of 30, 60, 300/,
  );
  assert.equal(
    errorOf("meter/set_interval", '{"id":"33B1225950027"}').response.error,
    "give seconds, minutes or both",
  );
  assert.match(errorOf("meter/sync_time", '{"id":"../x"}').response.error!, /^id: /);
  assert.equal(errorOf("health", '{"colour":1}').response.error, "unknown key colour");
  assert.equal(
    errorOf("health", JSON.stringify({ pad: "x".repeat(MAX_REQUEST_BYTES) })).response.error,
    `request larger than ${MAX_REQUEST_BYTES} bytes`,
  );
});

Deno.test("an action that is odd as a topic level is answered on response/invalid", () => {
  for (const action of ["a/b/c/d/e", "UPPER", "x".repeat(40), "a//b", ""]) {
    assert.equal(errorOf(action).action, "invalid", action);
  }
});

Deno.test("responses follow the documented shape", () => {
  assert.deepEqual(okResponse({ a: 1 }, "t"), { status: "ok", data: { a: 1 }, transaction: "t" });
  assert.deepEqual(errorResponse("boom"), { status: "error", data: {}, error: "boom" });
  assert.equal(ApiResponse.safeParse(okResponse({})).success, true);
});
