/**
 * Entry point of an embedded broker worker (`internal_broker` or
 * `central_broker`, from the worker's name). Runs with permission to listen on
 * its own address only.
 *
 * @module
 */
import "../runtime/empty_process_env.ts";
import { logger } from "../logging/setup.ts";
import { runWorker } from "../worker/worker_runtime.ts";
import { AccessPolicy } from "./access_policy.ts";
import { EmbeddedBroker } from "./embedded_broker.ts";
import { type BrokerRole, embeddedListener } from "./listener.ts";
import { proxyInternalSession } from "../proxy/internal_session.ts";

declare const self: { name: string };

const role = self.name as BrokerRole;
const name = role === "internal_broker" ? "internal" : "central";

runWorker(role, async (config, _emit, context) => {
  const listener = embeddedListener(config, role);
  if (listener === undefined) throw new Error(`${role}.embedded is not enabled`);
  const internal = config.internal_broker;
  const policy = role === "internal_broker"
    ? new AccessPolicy(internal.meter_auth, {
      username: internal.username ?? "",
      password: internal.password ?? "",
      clientIdPrefix: internal.client_id,
    })
    : undefined;
  const log = logger("broker", name);
  // The proxy's session exists from the start, so readings meters send before it connects wait
  // for it; a proxy in another process (--workers) may use another client id.
  const sessions = role === "internal_broker" && !context.remote.includes("proxy")
    ? [proxyInternalSession(config)]
    : [];
  const broker = await EmbeddedBroker.start({
    name,
    ...listener,
    policy,
    sessions,
    // Meters' messages only: the bridge's own messages to a local central broker may be larger.
    maxPayloadBytes: role === "internal_broker" ? config.limits.max_payload_bytes : undefined,
    log,
  });
  log.info("Embedded {name} broker listening on {host}:{port}{tls}{auth}", {
    name,
    host: listener.host,
    port: listener.port,
    tls: listener.tls ? ` and TLS ${listener.host}:${listener.tls.port}` : "",
    auth: policy === undefined
      ? ""
      : policy.requiresAuthentication
      ? " (meters must authenticate)"
      : " (no meter password: anonymous meters, loopback only unless embedded.host says otherwise)",
  });
  const interval = config.logging.stats_interval_seconds * 1000;
  const stats = interval > 0
    ? setInterval(() => {
      const acks = broker.acks;
      log.info(
        "Stats: {clients} clients; refused {refused}" + (acks === undefined
          ? ""
          : "; {held} meter messages wait for the bridge, {early} acknowledged before it had them"),
        {
          clients: broker.aedes.connectedClients,
          refused: { ...broker.refused },
          held: acks?.held,
          early: acks?.answeredEarly,
        },
      );
    }, interval)
    : undefined;
  return {
    stop: () => {
      clearInterval(stats);
      return broker.stop();
    },
  };
});
