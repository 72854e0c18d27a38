import assert from "node:assert/strict";
import fc from "fast-check";
import { AccessPolicy, type Principal, UPLINK_TOPICS } from "../../src/broker/access_policy.ts";
import {
  clockCommand,
  intervalReadCommand,
  METER_COMMANDS,
  minutesIntervalCommand,
  relayCommand,
  secondsIntervalCommand,
} from "../../src/protocol/commands.ts";
import { MeterModel } from "../../src/simulator/meter_model.ts";
import { Config, type MeterAuthConfig } from "../../src/config/schema.ts";
import { MeterId } from "../../src/protocol/meter_id.ts";

const A = MeterId.parse("33B1225950027");
const B = MeterId.parse("33B1225950028");
const BRIDGE = { username: "bridge", password: "pw" };
const OPRID = "0".repeat(32);

/** The `meter_auth` section parsed from `section`, as the bridge sees it. */
function meterAuth(section: Record<string, unknown> = {}): MeterAuthConfig {
  const config = Config.parse({
    internal_broker: {
      url: "mqtt://127.0.0.1:1",
      username: BRIDGE.username,
      password: BRIDGE.password,
      meter_auth: section,
    },
  });
  return config.internal_broker.meter_auth;
}

function policy(section: Record<string, unknown> = {}): AccessPolicy {
  return new AccessPolicy(meterAuth(section), BRIDGE);
}

const bytes = (text: string) => new TextEncoder().encode(text);
const reading = (id: string) => bytes(JSON.stringify({ id, time: "20260112100000", Pt: 1.5 }));

const BRIDGE_PRINCIPAL: Principal = { kind: "bridge" };
const METER: Principal = { kind: "meter", username: "meter" };
const BOUND_A: Principal = { kind: "meter", username: "panel-a", boundTo: A };

const OPEN = {};
const SHARED = { username: "meter", password: "meter-secret" };
const BOUND = {
  password: "meter-secret",
  accounts: {
    [A]: { username: "panel-a", password: "a-secret" },
    [B]: { password: "b-secret" },
  },
};
const BOUND_ONLY = { accounts: { [A]: { username: "panel-a", password: "a-secret" } } };

Deno.test("the uplink topics are exactly the twelve fixed topics meters publish", () => {
  assert.deepEqual(UPLINK_TOPICS, [
    "MQTT_RT_DATA",
    "MQTT_ENY_NOW",
    "MQTT_DAY_DATA",
    "MQTT_TELEIND",
    "MQTT_COMMOD_SET_REP",
    "MQTT_COMMOD_READ_REP",
    "MQTT_METER_TIME_REP",
    "MQTT_TELECTRL_REP",
    "MQTT_SYS_SET_REP",
    "MQTT_SYS_REPLY",
    "MQTT_RECONFIG_REPLY",
    "MQTT_RECALL_REP",
  ]);
});

Deno.test("every command the bridge sends goes to a command topic a meter may subscribe to", () => {
  const commands = [
    secondsIntervalCommand(A, 60, OPRID),
    minutesIntervalCommand(A, 5, OPRID),
    clockCommand(A, "20260112163900", OPRID),
    intervalReadCommand(A, "seconds", OPRID),
    intervalReadCommand(A, "minutes", OPRID),
    relayCommand(A, true, OPRID),
  ];
  for (const command of commands) {
    const name = /^MQTT_(.+)_[0-9A-Z]{8}$/.exec(command.topic)?.[1];
    assert.ok(name !== undefined && METER_COMMANDS.includes(name as never), command.topic);
    assert.deepEqual(policy(OPEN).maySubscribe(METER, command.topic), { ok: true });
    assert.ok(policy(OPEN).mayReceive(METER, command.topic), command.topic);
  }
  // A simulated meter subscribes to exactly the topics of METER_COMMANDS, as a real one does.
  assert.deepEqual(
    new MeterModel({ id: A, timeZone: "UTC" }).commandTopics().toSorted(),
    METER_COMMANDS.map((name) => `MQTT_${name}_${A.slice(-8)}`).toSorted(),
  );
});

Deno.test("the bridge user with its password is the bridge", () => {
  for (const section of [OPEN, SHARED, BOUND, BOUND_ONLY]) {
    assert.deepEqual(policy(section).authenticate("bridge", "pw"), { kind: "bridge" });
  }
});

Deno.test("the bridge user with a wrong or missing password is refused", () => {
  for (const section of [OPEN, SHARED, BOUND, BOUND_ONLY]) {
    const rules = policy(section);
    assert.equal(rules.authenticate("bridge", "wrong"), undefined);
    assert.equal(rules.authenticate("bridge", "pw "), undefined);
    assert.equal(rules.authenticate("bridge", "p"), undefined);
    assert.equal(rules.authenticate("bridge", ""), undefined);
    assert.equal(rules.authenticate("bridge", undefined), undefined);
  }
});

Deno.test("the bridge user is refused with a wrong password even without a meter password", () => {
  // Not demoted to an anonymous meter: the name is the bridge's.
  assert.equal(policy(OPEN).authenticate("bridge", "nope"), undefined);
});

Deno.test("the shared meter account with its password is an unbound meter", () => {
  assert.deepEqual(policy(SHARED).authenticate("meter", "meter-secret"), {
    kind: "meter",
    username: "meter",
  });
});

Deno.test("the shared meter account honours a configured username", () => {
  const rules = policy({ username: "kpm", password: "meter-secret" });
  assert.deepEqual(rules.authenticate("kpm", "meter-secret"), { kind: "meter", username: "kpm" });
  assert.equal(rules.authenticate("meter", "meter-secret"), undefined);
});

Deno.test("with a meter password, wrong passwords, other users and anonymous clients are refused", () => {
  const rules = policy(SHARED);
  assert.equal(rules.authenticate("meter", "wrong"), undefined);
  assert.equal(rules.authenticate("meter", ""), undefined);
  assert.equal(rules.authenticate("meter", undefined), undefined);
  assert.equal(rules.authenticate("someone", "meter-secret"), undefined);
  assert.equal(rules.authenticate(undefined, "meter-secret"), undefined);
  assert.equal(rules.authenticate(undefined, undefined), undefined);
  assert.equal(rules.authenticate("", ""), undefined);
});

Deno.test("a bound account with an explicit username is a meter bound to its id", () => {
  assert.deepEqual(policy(BOUND).authenticate("panel-a", "a-secret"), {
    kind: "meter",
    username: "panel-a",
    boundTo: A,
  });
});

Deno.test("a bound account without a username logs in with the meter id as username", () => {
  assert.deepEqual(policy(BOUND).authenticate(B, "b-secret"), {
    kind: "meter",
    username: B,
    boundTo: B,
  });
});

Deno.test("a bound account is refused with a wrong password, another account's or the shared one", () => {
  const rules = policy(BOUND);
  assert.equal(rules.authenticate("panel-a", "b-secret"), undefined);
  assert.equal(rules.authenticate("panel-a", "meter-secret"), undefined);
  assert.equal(rules.authenticate("panel-a", undefined), undefined);
  assert.equal(rules.authenticate(B, "a-secret"), undefined);
});

Deno.test("a meter id with an explicit account username is not itself a username", () => {
  // A's account is "panel-a"; "33B1225950027" is no account, and the shared password is set.
  assert.equal(policy(BOUND).authenticate(A, "a-secret"), undefined);
});

Deno.test("without a meter password or accounts, anonymous clients become unbound meters", () => {
  const rules = policy(OPEN);
  assert.deepEqual(rules.authenticate(undefined, undefined), { kind: "meter", username: "" });
  assert.deepEqual(rules.authenticate("anything", "whatever"), {
    kind: "meter",
    username: "anything",
  });
  assert.deepEqual(rules.authenticate("meter", undefined), { kind: "meter", username: "meter" });
});

Deno.test("with only bound accounts, anonymous clients and unknown users are refused", () => {
  // The listener opens to the LAN (0.0.0.0) as soon as accounts exist.
  const rules = policy(BOUND_ONLY);
  assert.equal(rules.requiresAuthentication, true);
  assert.equal(rules.authenticate(undefined, undefined), undefined);
  assert.equal(rules.authenticate("meter", ""), undefined);
  assert.equal(rules.authenticate("someone", "anything"), undefined);
});

Deno.test("with only bound accounts, a bound account still logs in", () => {
  assert.deepEqual(policy(BOUND_ONLY).authenticate("panel-a", "a-secret"), {
    kind: "meter",
    username: "panel-a",
    boundTo: A,
  });
});

Deno.test("authentication is required once a meter password or a bound account exists", () => {
  assert.equal(policy(OPEN).requiresAuthentication, false);
  assert.equal(policy({ username: "kpm" }).requiresAuthentication, false);
  assert.equal(policy(SHARED).requiresAuthentication, true);
  assert.equal(policy(BOUND).requiresAuthentication, true);
  assert.equal(policy(BOUND_ONLY).requiresAuthentication, true);
});

Deno.test("the bridge may publish anything", () => {
  const rules = policy(BOUND);
  for (const topic of ["MQTT_SETTIME_25950027", "kpm33b/x", "#", "", ...UPLINK_TOPICS]) {
    assert.deepEqual(rules.mayPublish(BRIDGE_PRINCIPAL, topic, bytes("not json")), { ok: true });
  }
});

Deno.test("a meter may publish every uplink topic", () => {
  const rules = policy(SHARED);
  for (const topic of UPLINK_TOPICS) {
    assert.deepEqual(rules.mayPublish(METER, topic, reading(A)), { ok: true }, topic);
  }
});

Deno.test("an unbound meter may publish any payload on an uplink topic", () => {
  const rules = policy(SHARED);
  assert.deepEqual(rules.mayPublish(METER, "MQTT_RT_DATA", reading(B)), { ok: true });
  assert.deepEqual(rules.mayPublish(METER, "MQTT_RT_DATA", bytes("not json")), { ok: true });
  assert.deepEqual(rules.mayPublish(METER, "MQTT_RT_DATA", new Uint8Array()), { ok: true });
});

Deno.test("a meter may not publish command topics, bridge topics, wildcards or the empty topic", () => {
  const rules = policy(SHARED);
  const refusals: Record<string, string> = {
    "MQTT_SETTIME_25950027": 'meters may publish only uplink topics, not "MQTT_SETTIME_25950027"',
    "kpm33b/x": 'meters may publish only uplink topics, not "kpm33b/x"',
    "#": 'meters may publish only uplink topics, not "#"',
    "": 'meters may publish only uplink topics, not ""',
    "mqtt_rt_data": 'meters may publish only uplink topics, not "mqtt_rt_data"',
    "MQTT_RT_DATA/": 'meters may publish only uplink topics, not "MQTT_RT_DATA/"',
    " MQTT_RT_DATA": 'meters may publish only uplink topics, not " MQTT_RT_DATA"',
  };
  for (const [topic, reason] of Object.entries(refusals)) {
    assert.deepEqual(rules.mayPublish(METER, topic, reading(A)), { ok: false, reason }, topic);
    assert.deepEqual(rules.mayPublish(BOUND_A, topic, reading(A)), { ok: false, reason }, topic);
  }
});

Deno.test("a bound meter may publish payloads carrying its own id", () => {
  const rules = policy(BOUND);
  for (const topic of UPLINK_TOPICS) {
    assert.deepEqual(rules.mayPublish(BOUND_A, topic, reading(A)), { ok: true }, topic);
  }
  assert.deepEqual(
    rules.mayPublish(
      BOUND_A,
      "MQTT_COMMOD_SET_REP",
      bytes(`{"id":"${A}","oprid":"1","code":"01"}`),
    ),
    { ok: true },
  );
});

Deno.test("a bound meter may not publish a payload carrying another meter's id", () => {
  assert.deepEqual(policy(BOUND).mayPublish(BOUND_A, "MQTT_RT_DATA", reading(B)), {
    ok: false,
    reason: 'account panel-a is bound to 33B1225950027, payload id is "33B1225950028"',
  });
});

Deno.test("a bound meter may not publish a payload without an id", () => {
  const rules = policy(BOUND);
  const noId = {
    ok: false,
    reason: "account panel-a is bound to 33B1225950027, payload id is null",
  };
  for (
    const payload of [
      "not json",
      "",
      "{}",
      "null",
      "[]",
      `"${A}"`,
      `{"id":null}`,
      `{"id":33}`,
      `{"ID":"${A}"}`,
      `{"meter":{"id":"${A}"}}`,
    ]
  ) {
    assert.deepEqual(rules.mayPublish(BOUND_A, "MQTT_RT_DATA", bytes(payload)), noId, payload);
  }
});

Deno.test("a bound meter's payload id must match exactly, not by prefix or case", () => {
  const rules = policy(BOUND);
  assert.deepEqual(rules.mayPublish(BOUND_A, "MQTT_RT_DATA", reading("33b1225950027")), {
    ok: false,
    reason: 'account panel-a is bound to 33B1225950027, payload id is "33b1225950027"',
  });
  assert.deepEqual(rules.mayPublish(BOUND_A, "MQTT_RT_DATA", reading(`${A} `)), {
    ok: false,
    reason: 'account panel-a is bound to 33B1225950027, payload id is "33B1225950027 "',
  });
});

Deno.test("the bridge may subscribe to anything, wildcards included", () => {
  const rules = policy(BOUND);
  for (const filter of ["#", "+", "MQTT_SETTIME_+", "kpm33b/#", "MQTT_RT_DATA", ""]) {
    assert.deepEqual(rules.maySubscribe(BRIDGE_PRINCIPAL, filter), { ok: true }, filter);
  }
});

Deno.test("a meter may subscribe to every command topic of any meter", () => {
  const rules = policy(SHARED);
  for (const name of METER_COMMANDS) {
    for (const suffix of ["25950027", "25950028", "ABCDEFGH", "00000000", "Z9Y8X7W6"]) {
      const filter = `MQTT_${name}_${suffix}`;
      assert.deepEqual(rules.maySubscribe(METER, filter), { ok: true }, filter);
    }
  }
});

Deno.test("a meter may not subscribe to wildcards", () => {
  const rules = policy(SHARED);
  for (const filter of ["#", "+", "MQTT_SETTIME_+", "MQTT_+_25950027", "MQTT_SET_2595002+"]) {
    assert.deepEqual(rules.maySubscribe(METER, filter), {
      ok: false,
      reason: `meters may subscribe only to their command topics, not ${JSON.stringify(filter)}`,
    }, filter);
  }
});

Deno.test("a meter may not subscribe to uplink, bridge or malformed command topics", () => {
  const rules = policy(SHARED);
  for (
    const filter of [
      "",
      "MQTT_RT_DATA",
      "MQTT_COMMOD_SET_REP",
      "kpm33b/33B1225950027/seconds",
      "MQTT_SETTIME_2595002", // 7 characters
      "MQTT_SETTIME_259500270", // 9 characters
      "MQTT_SETTIME_2595002a", // lower case
      "MQTT_SETTIME_33B1225950027", // the whole id
      "MQTT_SETTIME__25950027",
      "MQTT_UNKNOWN_25950027",
      "mqtt_settime_25950027",
      "MQTT_SETTIME_25950027/x",
      "x/MQTT_SETTIME_25950027",
      "MQTT_SETTIME_25950027\n",
    ]
  ) {
    assert.deepEqual(rules.maySubscribe(METER, filter), {
      ok: false,
      reason: `meters may subscribe only to their command topics, not ${JSON.stringify(filter)}`,
    }, filter);
  }
});

Deno.test("a bound meter may subscribe to all of its own command topics", () => {
  const rules = policy(BOUND);
  for (const name of METER_COMMANDS) {
    assert.deepEqual(rules.maySubscribe(BOUND_A, `MQTT_${name}_25950027`), { ok: true }, name);
  }
});

Deno.test("a bound meter may not subscribe to another meter's command topics", () => {
  const rules = policy(BOUND);
  for (const name of METER_COMMANDS) {
    assert.deepEqual(rules.maySubscribe(BOUND_A, `MQTT_${name}_25950028`), {
      ok: false,
      reason: "account panel-a is bound to 33B1225950027, not *_25950028",
    }, name);
  }
});

const C = MeterId.parse("33B1225950029");

Deno.test("the shared account may not publish a payload carrying a bound meter's id", () => {
  const rules = policy(BOUND);
  for (const topic of UPLINK_TOPICS) {
    assert.deepEqual(rules.mayPublish(METER, topic, reading(A)), {
      ok: false,
      reason: "payload id 33B1225950027 is bound to account panel-a; account meter may not use it",
    }, topic);
  }
  assert.deepEqual(
    rules.mayPublish(METER, "MQTT_TELECTRL_REP", bytes(`{"id":"${B}","oprid":"1","code":"01"}`)),
    {
      ok: false,
      reason: `payload id ${B} is bound to account ${B}; account meter may not use it`,
    },
  );
});

Deno.test("the shared account may still publish for unbound meters, and what the proxy rejects anyway", () => {
  const rules = policy(BOUND);
  assert.deepEqual(rules.mayPublish(METER, "MQTT_RT_DATA", reading(C)), { ok: true });
  for (const payload of ["not json", "", "{}", `{"id":"33b1225950027"}`, `{"id":"${A} "}`]) {
    assert.deepEqual(
      rules.mayPublish(METER, "MQTT_RT_DATA", bytes(payload)),
      { ok: true },
      payload,
    );
  }
});

Deno.test("the shared account may not subscribe to, nor receive, a bound meter's command topics", () => {
  const rules = policy(BOUND);
  for (const name of METER_COMMANDS) {
    assert.deepEqual(rules.maySubscribe(METER, `MQTT_${name}_25950027`), {
      ok: false,
      reason: "*_25950027 are the command topics of 33B1225950027, bound to account panel-a; " +
        "account meter may not read them",
    }, name);
    assert.equal(rules.mayReceive(METER, `MQTT_${name}_25950028`), false, name);
    assert.deepEqual(rules.maySubscribe(METER, `MQTT_${name}_25950029`), { ok: true }, name);
  }
});

Deno.test("a meter sharing a bound meter's last 8 characters cannot read them with the shared account", () => {
  // Command topics carry only the last 8 characters: reading them would read the bound meter's.
  assert.equal(
    policy(BOUND).maySubscribe(METER, `MQTT_SET_${"44C1225950027".slice(-8)}`).ok,
    false,
  );
});

Deno.test("a bound meter's own topics and ids stay its own with only bound accounts", () => {
  const rules = policy(BOUND_ONLY);
  assert.deepEqual(rules.mayPublish(BOUND_A, "MQTT_RT_DATA", reading(A)), { ok: true });
  assert.deepEqual(rules.maySubscribe(BOUND_A, "MQTT_SET_25950027"), { ok: true });
});

Deno.test("a bound meter may not subscribe to wildcards or non-command topics", () => {
  const rules = policy(BOUND);
  for (const filter of ["#", "+", "MQTT_SETTIME_+", "MQTT_RT_DATA"]) {
    assert.deepEqual(rules.maySubscribe(BOUND_A, filter), {
      ok: false,
      reason: `meters may subscribe only to their command topics, not ${JSON.stringify(filter)}`,
    }, filter);
  }
});

const ID_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".split("");
const meterIdArb = fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 13, maxLength: 13 })
  .map((text) => MeterId.parse(text));
const meterPrincipalArb: fc.Arbitrary<Principal> = fc.oneof(
  fc.string().map((username): Principal => ({ kind: "meter", username })),
  fc.tuple(fc.string(), meterIdArb).map((
    [username, boundTo],
  ): Principal => ({ kind: "meter", username, boundTo })),
);
const wildcardArb = fc.constantFrom("#", "+");
const commandNameArb = fc.constantFrom(...METER_COMMANDS);
const suffixCharsArb = fc.string({ unit: fc.constantFrom(...ID_CHARS), maxLength: 7 });
/** Filters with a wildcard somewhere, many of them shaped like command topics. */
const wildcardFilterArb = fc.oneof(
  fc.tuple(fc.string(), wildcardArb, fc.string()).map(([a, w, b]) => `${a}${w}${b}`),
  fc.tuple(commandNameArb, wildcardArb).map(([name, w]) => `MQTT_${name}_${w}`),
  fc.tuple(commandNameArb, suffixCharsArb, wildcardArb, suffixCharsArb).map(
    ([name, a, w, b]) => `MQTT_${name}_${a}${w}${b}`,
  ),
  fc.tuple(commandNameArb, fc.string(), wildcardArb).map(([name, a, w]) => `MQTT_${name}${a}${w}`),
);

Deno.test("a meter is never allowed to subscribe to a filter with a wildcard", () => {
  const rules = policy(BOUND);
  fc.assert(
    fc.property(
      meterPrincipalArb,
      wildcardFilterArb,
      (principal, filter) => {
        assert.ok(/[#+]/.test(filter));
        const decision = rules.maySubscribe(principal, filter);
        assert.equal(decision.ok, false);
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("a meter is never allowed to publish a topic that is not an uplink topic", () => {
  const rules = policy(BOUND);
  const uplink = new Set<string>(UPLINK_TOPICS);
  fc.assert(
    fc.property(
      meterPrincipalArb,
      fc.oneof(
        fc.string(),
        fc.constantFrom(...UPLINK_TOPICS).chain((topic) =>
          fc.tuple(fc.string(), fc.string()).map(([before, after]) => `${before}${topic}${after}`)
        ),
      ).filter((topic) => !uplink.has(topic)),
      fc.string(),
      (principal, topic, payload) => {
        const decision = rules.mayPublish(principal, topic, bytes(payload));
        assert.deepEqual(decision, {
          ok: false,
          reason: `meters may publish only uplink topics, not ${JSON.stringify(topic)}`,
        });
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("an empty bridge password never authenticates anyone as the bridge", () => {
  const open = new AccessPolicy(meterAuth(), { username: "bridge", password: "" });
  assert.equal(open.authenticate("bridge", ""), undefined);
  assert.equal(open.authenticate("bridge", undefined), undefined);
});

Deno.test("client ids with the bridge's prefix are reserved for the bridge", () => {
  const reserved = new AccessPolicy(meterAuth(), { ...BRIDGE, clientIdPrefix: "kpm33b-bridge" });
  assert.equal(reserved.mayUseClientId(BRIDGE_PRINCIPAL, "kpm33b-bridge-proxy-internal").ok, true);
  assert.equal(reserved.mayUseClientId(METER, "meter-33B1225950027").ok, true);
  const refused = reserved.mayUseClientId(METER, "kpm33b-bridge-proxy-internal");
  assert.deepEqual(refused, {
    ok: false,
    reason: 'client id "kpm33b-bridge-proxy-internal" is reserved for the bridge',
  });
  assert.equal(policy().mayUseClientId(METER, "kpm33b-bridge-proxy-internal").ok, true);
});

Deno.test("messages are delivered to a meter only on topics it may subscribe to", () => {
  const p = policy({ password: "secret" });
  assert.equal(p.mayReceive(BOUND_A, `MQTT_SET_${A.slice(-8)}`), true);
  assert.equal(p.mayReceive(BOUND_A, `MQTT_SET_${B.slice(-8)}`), false);
  assert.equal(p.mayReceive(METER, "MQTT_RT_DATA"), false);
  assert.equal(p.mayReceive(BRIDGE_PRINCIPAL, "MQTT_RT_DATA"), true);
});
