/**
 * Where an embedded broker listens, derived from the configuration. Shared by
 * the broker worker, its permissions and the start-up banner.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import { brokerPort } from "../config/broker_address.ts";

/** Which of the two brokers. */
export type BrokerRole = "internal_broker" | "central_broker";

/** An embedded broker's listeners. */
export interface Listener {
  readonly host: string;
  readonly port: number;
  readonly tls?: { readonly port: number; readonly cert: string; readonly key: string };
}

/**
 * The listeners of an embedded broker, or `undefined` when it is not enabled.
 * The port defaults to the port of the broker's `url`; the internal broker
 * listens on the LAN (0.0.0.0) only once meters must authenticate.
 */
export function embeddedListener(config: Config, role: BrokerRole): Listener | undefined {
  const broker = config[role];
  const embedded = broker.embedded;
  if (!embedded.enabled) return undefined;
  const port = embedded.port ?? brokerPort(broker.url);
  const secured = role === "internal_broker" &&
    (config.internal_broker.meter_auth.password !== "" ||
      Object.keys(config.internal_broker.meter_auth.accounts).length > 0);
  const host = embedded.host ?? (secured ? "0.0.0.0" : "127.0.0.1");
  const tls = embedded.tls;
  return {
    host,
    port,
    tls: tls === undefined
      ? undefined
      : { port: tls.port, cert: tls.cert ?? "", key: tls.key ?? "" },
  };
}
