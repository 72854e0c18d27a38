import assert from "node:assert/strict";
import { getLogger } from "@logtape/logtape";
import mqtt from "mqtt";
import { Config } from "../../src/config/schema.ts";
import { BrokerConnection } from "../../src/mqtt/broker_connection.ts";
import { startMosquitto } from "../helpers/mosquitto.ts";
import { until } from "../helpers/wait.ts";

const log = getLogger(["kpm33b", "test"]);

function connection(url: string) {
  return new BrokerConnection({
    name: "test",
    broker: Config.parse({ central_broker: { url } }).central_broker,
    clientId: `conn-${crypto.randomUUID().slice(0, 8)}`,
    log,
    reconnectInitialMs: 100,
    reconnectMaxMs: 400,
  });
}

Deno.test("reconnects after the broker restarts and delivers QoS 1 publishes queued meanwhile", async () => {
  // The consumer's persistent session survives the restart, so nothing depends on who reconnects first.
  const dir = await Deno.makeTempDir();
  await Deno.chmod(dir, 0o777); // mosquitto started as root drops to its own user
  const persistent = `persistence true\npersistence_location ${dir}/\n`;
  let broker = await startMosquitto(persistent);
  const port = broker.port;
  const conn = connection(broker.url);
  const consumer = await mqtt.connectAsync(broker.url, {
    clientId: "persistent-consumer",
    clean: false,
    reconnectPeriod: 100,
  });
  const received: string[] = [];
  consumer.on("message", (_topic, payload) => received.push(payload.toString()));
  try {
    await consumer.subscribeAsync("queued", { qos: 1 });
    await until(() => conn.connected, "first connect");
    await broker.stop();
    await until(() => !conn.connected, "disconnect");
    const acked: string[] = [];
    for (const n of ["1", "2", "3"]) {
      conn.client.publish("queued", n, { qos: 1 }, (error) => error ?? acked.push(n));
    }
    broker = await startMosquitto(persistent, port);
    await until(() => received.length === 3, "the queued messages");
    assert.deepEqual(received, ["1", "2", "3"]);
    await until(() => acked.length === 3, "PUBACKs");
  } finally {
    await consumer.endAsync(true);
    await conn.stop({ timeoutMs: 1000 });
    await broker.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("keeps retrying with capped backoff while the broker is down, and stops cleanly", async () => {
  const broker = await startMosquitto();
  await broker.stop();
  const conn = connection(broker.url);
  const attempts: number[] = [];
  conn.client.on("close", () => attempts.push(Date.now()));
  await until(() => attempts.length >= 5, "5 attempts");
  await conn.stop({ timeoutMs: 500 });
  const gaps = attempts.slice(1).map((t, i) => t - (attempts[i] ?? NaN));
  // Delays are 50-100, 100-200, 200-400, then capped at 200-400 ms.
  assert.ok(gaps.every((gap) => gap >= 40 && gap <= 1000), `gaps ${gaps}`);
  assert.ok((gaps[3] ?? NaN) >= 180, `capped backoff grows: ${gaps}`);
  const count = attempts.length;
  await new Promise((resolve) => setTimeout(resolve, 600));
  assert.equal(attempts.length, count, "no retries after stop");
});

Deno.test("without resend after reconnect, a publish in flight at a disconnect fails and stop() still ends at once", async () => {
  let broker = await startMosquitto();
  const port = broker.port;
  const conn = new BrokerConnection({
    name: "test",
    broker: Config.parse({ central_broker: { url: broker.url } }).central_broker,
    clientId: `conn-${crypto.randomUUID().slice(0, 8)}`,
    resendAfterReconnect: false,
    log,
    reconnectInitialMs: 100,
    reconnectMaxMs: 400,
  });
  try {
    await until(() => conn.connected, "first connect");
    // A frozen broker never acknowledges: the publish is in flight when the link drops.
    Deno.kill(broker.pid, "SIGSTOP");
    let failure: Error | undefined | null = null;
    conn.client.publish("t", "in flight", { qos: 1 }, (error) => failure = error);
    Deno.kill(broker.pid, "SIGKILL");
    await broker.stop();
    await until(() => !conn.connected, "disconnect");
    broker = await startMosquitto("", port);
    await until(() => conn.connected, "reconnect", 5000);
    assert.equal((failure as Error | null)?.message, "Connection closed", "the caller resends it");
    let acked = false;
    conn.client.publish("t", "after the reconnect", { qos: 1 }, () => acked = true);
    await until(() => acked, "PUBACK on the new connection");
    const started = Date.now();
    await conn.stop({ timeoutMs: 3000 });
    assert.ok(Date.now() - started < 1000, "stop() waited for the stale publish");
  } finally {
    await broker.stop();
  }
});
