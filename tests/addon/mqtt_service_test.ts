import assert from "node:assert/strict";
import { lookUpMqttService, MqttServiceError } from "../../src/addon/mqtt_service.ts";
import { fakeSupervisor } from "../helpers/addon.ts";
import { freePort } from "../helpers/ports.ts";

const TOKEN = "f".repeat(32);

Deno.test("the service the Supervisor names, asked for with the add-on's token", async () => {
  await using supervisor = fakeSupervisor(TOKEN, {
    host: "core-mosquitto",
    port: 1883,
    username: "addons",
    password: "pw",
    ssl: false,
    protocol: "3.1.1",
  });
  assert.deepEqual(await lookUpMqttService(supervisor.url, TOKEN), {
    available: true,
    service: { host: "core-mosquitto", port: 1883, username: "addons", password: "pw", ssl: false },
  });
  assert.deepEqual(supervisor.requests, [{
    path: "/services/mqtt",
    authorization: `Bearer ${TOKEN}`,
  }]);
});

Deno.test("no provider is no service, with the Supervisor's reason", async () => {
  await using supervisor = fakeSupervisor(TOKEN, undefined);
  assert.deepEqual(await lookUpMqttService(supervisor.url, TOKEN), {
    available: false,
    reason: "Service not enabled",
  });
});

Deno.test("a refused token, an unreachable Supervisor or a bad answer is an error; only unreachable is retried", async () => {
  await using supervisor = fakeSupervisor(TOKEN, { host: "h" });
  await assert.rejects(
    lookUpMqttService(supervisor.url, "0".repeat(32)),
    (error) =>
      error instanceof MqttServiceError && !error.retryable && /refused/.test(error.message),
  );
  await assert.rejects(
    lookUpMqttService(supervisor.url, TOKEN),
    (error) => error instanceof MqttServiceError && /not a broker/.test(error.message),
  );
  await assert.rejects(
    lookUpMqttService(`http://127.0.0.1:${freePort()}`, TOKEN),
    (error) => error instanceof MqttServiceError && error.retryable,
  );
});
