import assert from "node:assert/strict";
import { Config } from "../../src/config/schema.ts";
import { brokerAddress } from "../../src/config/broker_address.ts";
import {
  brokerPermissions,
  configSenderPermissions,
  httpPermissions,
  proxyPermissions,
} from "../../src/supervisor/permissions.ts";
import { WORKER_MODULES } from "../../src/supervisor/workers.ts";
import type { FromWorker, ToWorker } from "../../src/worker/messages.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { NOTHING } from "../helpers/permissions.ts";
import { freePort } from "../helpers/ports.ts";

Deno.test("brokerAddress gives host:port with scheme default ports", () => {
  assert.equal(brokerAddress({ url: "mqtt://127.0.0.1:11883" }), "127.0.0.1:11883");
  assert.equal(brokerAddress({ url: "mqtt://broker.lan" }), "broker.lan:1883");
  assert.equal(brokerAddress({ url: "mqtts://broker.lan" }), "broker.lan:8883");
  assert.equal(brokerAddress({ url: "wss://broker.lan/mqtt" }), "broker.lan:443");
  assert.equal(brokerAddress({ url: "mqtt://user:pw@[::1]:1884" }), "[::1]:1884");
});

Deno.test("proxy permissions name both brokers and the outbox's state_dir, nothing else", () => {
  const config = Config.parse({
    internal_broker: { url: "mqtt://10.0.0.5:11883" },
    central_broker: { url: "mqtt://ha.local:1883" },
    state_dir: "/var/lib/kpm33b",
  });
  assert.deepEqual(proxyPermissions(config), {
    ...NOTHING,
    net: ["10.0.0.5:11883", "ha.local:1883"],
    read: ["/var/lib/kpm33b"],
    write: ["/var/lib/kpm33b"],
  });
  assert.deepEqual(configSenderPermissions(config), proxyPermissions(config));
  const memoryOnly = Config.parse({ ...config, outbox: { enabled: false } });
  assert.deepEqual(proxyPermissions(memoryOnly), {
    ...NOTHING,
    net: ["10.0.0.5:11883", "ha.local:1883"],
  });
});

const PROBE = new URL("../helpers/permission_probe_worker.ts", import.meta.url);
const LISTEN_PROBE = new URL("../helpers/listen_probe_worker.ts", import.meta.url);

/** What a worker allowed only to listen on its own address gets from the listen probe. */
const LISTEN_ONLY = {
  listenOwnPort: "allowed",
  listenOtherPort: "NotCapable",
  connectOut: "NotCapable",
  readFile: "NotCapable",
  writeFile: "NotCapable",
  runSubprocess: "NotCapable",
  env: "NotCapable",
};

/** What a worker with `permissions` may do, as a probe worker reports it. */
async function probe(
  permissions: Deno.PermissionOptionsObject,
  data: { allowedPort: number; deniedPort: number; stateDir?: string },
  worker = PROBE,
): Promise<Record<string, string>> {
  const running = new Worker(worker, { type: "module", deno: { permissions } } as WorkerOptions);
  try {
    return await new Promise<Record<string, string>>((resolve, reject) => {
      running.onmessage = (event) => resolve(event.data);
      running.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
      running.postMessage(data);
    });
  } finally {
    running.terminate();
  }
}

for (
  const [worker, permissionsOf] of [
    ["proxy", proxyPermissions],
    ["config sender", configSenderPermissions],
  ] as const
) {
  Deno.test(`a worker with the ${worker}'s permissions reaches its broker and state_dir, and is denied everything else`, async () => {
    await using broker = await startMosquitto();
    const stateDir = await Deno.makeTempDir({ prefix: "kpm33b-permissions-" });
    try {
      const config = Config.parse({
        internal_broker: { url: broker.url },
        central_broker: { url: broker.url },
        state_dir: stateDir,
      });
      const result = await probe(permissionsOf(config), {
        allowedPort: broker.port,
        deniedPort: freePort(),
        stateDir,
      });
      assert.deepEqual(result, {
        writeState: "allowed",
        renameInState: "allowed",
        readState: "allowed",
        openOutbox: "allowed",
        mqttToBroker: "allowed",
        netOtherPort: "NotCapable",
        readFile: "NotCapable",
        readConfig: "NotCapable",
        writeFile: "NotCapable",
        openOutboxElsewhere: "NotCapable",
        runSubprocess: "NotCapable",
        env: "NotCapable",
        ffi: "NotCapable",
        sys: "NotCapable",
      });
    } finally {
      await Deno.remove(stateDir, { recursive: true });
    }
  });
}

Deno.test("an embedded broker's worker may listen on its own port and do nothing else", async () => {
  const port = freePort();
  const config = Config.parse({
    internal_broker: { url: `mqtt://127.0.0.1:${port}`, embedded: { enabled: true } },
  });
  const permissions = brokerPermissions(config, "internal_broker");
  assert.deepEqual(permissions.net, [`127.0.0.1:${port}`]);
  const result = await probe(
    permissions,
    { allowedPort: port, deniedPort: freePort() },
    LISTEN_PROBE,
  );
  assert.deepEqual(result, LISTEN_ONLY);
});

Deno.test("the HTTP worker may listen on http.host:http.port and do nothing else", async () => {
  const port = freePort();
  const permissions = httpPermissions(Config.parse({ http: { host: "127.0.0.1", port } }));
  assert.deepEqual(permissions, { ...NOTHING, net: [`127.0.0.1:${port}`] });
  const result = await probe(
    permissions,
    { allowedPort: port, deniedPort: freePort() },
    LISTEN_PROBE,
  );
  assert.deepEqual(result, LISTEN_ONLY);
});

for (
  const [host, urlHost] of [["127.0.0.1", "127.0.0.1"], ["localhost", "127.0.0.1"], [
    "::1",
    "[::1]",
  ]]
) {
  Deno.test(`the real HTTP worker on ${host} starts and serves with the HTTP worker's permissions`, async () => {
    const port = freePort();
    const config = Config.parse({ http: { host, port }, logging: { level: "warning" } });
    const worker = new Worker(WORKER_MODULES.http, {
      type: "module",
      deno: { permissions: httpPermissions(config) },
    } as WorkerOptions);
    try {
      const next = () =>
        new Promise<FromWorker>((resolve, reject) => {
          worker.onmessage = (event) => resolve(event.data);
          worker.onerror = (event) => {
            event.preventDefault();
            reject(new Error(event.message));
          };
        });
      const send = (message: ToWorker) => worker.postMessage(message);
      const started = next();
      send({ type: "start", config, remote: [] });
      assert.deepEqual(await started, { type: "started" });
      const response = await fetch(`http://${urlHost}:${port}/healthz`);
      assert.equal(await response.text(), "ok\n");
      const stopped = next();
      send({ type: "stop", timeoutMs: 1000 });
      assert.deepEqual(await stopped, { type: "stopped" });
    } finally {
      worker.terminate();
    }
  });
}
