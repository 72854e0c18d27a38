import assert from "node:assert/strict";
import { Config } from "../../src/config/schema.ts";
import { WORKER_MODULES, workerSpecs } from "../../src/supervisor/workers.ts";

Deno.test("a configuration with broker URLs only runs no embedded broker", () => {
  const specs = workerSpecs(Config.parse({
    internal_broker: { url: "mqtt://10.0.0.5:11883" },
    central_broker: { url: "mqtt://ha.local:1883" },
    http: { enabled: false },
  }));
  assert.deepEqual(specs.map((s) => s.name), ["proxy", "config_sender"]);
  assert.ok(specs.every((s) => !s.startFirst));
});

Deno.test("enabled embedded brokers run first, each allowed only its own listen address", () => {
  const specs = workerSpecs(Config.parse({
    internal_broker: { url: "mqtt://127.0.0.1:11883", embedded: { enabled: true } },
    central_broker: {
      url: "mqtt://127.0.0.1:11884",
      embedded: { enabled: true, host: "127.0.0.1" },
    },
    http: { enabled: false },
  }));
  assert.deepEqual(specs.map((s) => [s.name, s.startFirst ?? false]), [
    ["internal_broker", true],
    ["central_broker", true],
    ["proxy", false],
    ["config_sender", false],
  ]);
  assert.equal(specs[0]?.url.href, WORKER_MODULES.broker.href);
  assert.deepEqual(specs[0]?.permissions.net, ["127.0.0.1:11883"]);
  assert.deepEqual(specs[1]?.permissions.net, ["127.0.0.1:11884"]);
  assert.equal(specs[0]?.permissions.read, false);
});

Deno.test("the HTTP worker runs last when http.enabled, allowed only its listen address", () => {
  const specs = workerSpecs(Config.parse({ http: { host: "127.0.0.1", port: 9100 } }));
  const http = specs.at(-1)!;
  assert.equal(http.name, "http");
  assert.equal(http.url.href, WORKER_MODULES.http.href);
  assert.equal(http.startFirst, undefined);
  assert.deepEqual(http.permissions.net, ["127.0.0.1:9100"]);
  assert.equal(http.permissions.read, false);

  const byDefault = workerSpecs(Config.parse({})).find((spec) => spec.name === "http");
  assert.deepEqual(byDefault?.permissions.net, ["0.0.0.0:8080"]);
  const disabled = workerSpecs(Config.parse({ http: { enabled: false } }));
  assert.ok(disabled.every((spec) => spec.name !== "http"));
});
