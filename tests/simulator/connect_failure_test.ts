import assert from "node:assert/strict";
import { explainSimulatorConnectError } from "../../src/simulator/connect_failure.ts";

function error(message: string, code?: string): Error & { code?: unknown } {
  const result = new Error(message) as Error & { code?: unknown };
  if (code !== undefined) result.code = code;
  return result;
}

const ATTEMPT = { url: "mqtt://gateway.lan:11883", username: "meter", connectTimeoutMs: 30_000 };

Deno.test("a refused login names the user and the meters' password, MQTT 3.1.1 and 5 alike", () => {
  for (
    const message of [
      "Connection refused: Bad username or password",
      "Connection refused: Not authorized",
      "Connection refused: Bad User Name or Password",
    ]
  ) {
    const report = explainSimulatorConnectError(ATTEMPT, error(message));
    assert.equal(report.exitCode, 77);
    assert.match(report.message, /refused the login of user "meter"/);
    assert.ok(report.message.includes(message));
    assert.match(report.message, /KPM33B_METER_PASSWORD/);
    assert.match(report.message, /internal_broker\.meter_auth/);
    assert.match(report.message, /--username and --password/);
  }
  const anonymous = explainSimulatorConnectError(
    { ...ATTEMPT, username: undefined },
    error("Connection refused: Not authorized"),
  );
  assert.match(anonymous.message, /refused the login without a user name/);
});

Deno.test("each network failure has its own advice and exit code 69", () => {
  const cases = [
    [
      "connect ECONNREFUSED 10.0.0.5:11883",
      "ECONNREFUSED",
      /Nothing accepts connections on gateway\.lan:11883: is the broker running/,
    ],
    ["getaddrinfo ENOTFOUND gateway.lan", "ENOTFOUND", /does not resolve: check gateway\.lan\./],
    ["connect EHOSTUNREACH 10.0.0.5:11883", "EHOSTUNREACH", /No route to gateway\.lan:11883/],
    ["connack timeout", undefined, /No answer from the broker within 30 s/],
    [
      "received corrupt message of type InvalidContentType",
      "ERR_SSL_WRONG_VERSION_NUMBER",
      /TLS with gateway\.lan:11883 failed/,
    ],
    [
      "self-signed certificate",
      "DEPTH_ZERO_SELF_SIGNED_CERT",
      /TLS with gateway\.lan:11883 failed/,
    ],
    ["Invalid header flag bits", undefined, /Is gateway\.lan:11883 the address of an MQTT broker/],
  ] as const;
  for (const [message, code, advice] of cases) {
    const report = explainSimulatorConnectError(ATTEMPT, error(message, code));
    assert.equal(report.exitCode, 69, message);
    assert.ok(report.message.startsWith(`cannot connect to ${ATTEMPT.url}: ${message}\n`));
    assert.match(report.message, advice);
    assert.doesNotMatch(report.message, /login/);
  }
});
