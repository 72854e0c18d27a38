/**
 * Why `deno task simulate` could not connect, in terms of its options and
 * the meters' broker: the one classification of connection errors
 * ({@link classifyConnectError}) with the simulator's remedies.
 *
 * @module
 */
import { classifyConnectError } from "../mqtt/connect_error.ts";

/** What was tried. */
export interface ConnectAttempt {
  readonly url: string;
  readonly username?: string;
  /** No CONNACK within this many ms counts as a timeout. */
  readonly connectTimeoutMs: number;
}

/** A message for the user and the exit code: 77 (EX_NOPERM) for a refused login, else 69. */
export interface ConnectFailureReport {
  readonly message: string;
  readonly exitCode: number;
}

const LOGIN =
  "The bridge's embedded meters' broker accepts the meters' shared user (internal_broker." +
  'meter_auth.username, default "meter") with the password KPM33B_METER_PASSWORD ' +
  "(internal_broker.meter_auth.password), or a meter account of " +
  "internal_broker.meter_auth.accounts; pass them with --username and --password";

/** The URL's `host:port` and host name, or the URL itself when it does not parse. */
function hostOf(url: string): { readonly host: string; readonly hostname: string } {
  try {
    const { host, hostname } = new URL(url);
    return { host, hostname };
  } catch {
    return { host: url, hostname: url };
  }
}

/** Explains a failed first connection of the simulator to `attempt.url`. */
export function explainSimulatorConnectError(
  attempt: ConnectAttempt,
  error: Error & { code?: unknown },
): ConnectFailureReport {
  const { url, username } = attempt;
  const { host, hostname } = hostOf(url);
  const cause = `cannot connect to ${url}: ${error.message}`;
  const unavailable = (advice: string) => ({ message: `${cause}\n${advice}`, exitCode: 69 });
  switch (classifyConnectError(error)) {
    case "credentials":
      return {
        message: `${url} refused the login ${
          username === undefined ? "without a user name" : `of user "${username}"`
        } (${error.message}).\n${LOGIN}.`,
        exitCode: 77,
      };
    case "refused":
      return unavailable(
        `Nothing accepts connections on ${host}: is the broker running (the bridge with its ` +
          "embedded meters' broker, or Mosquitto), and is the port right? The bridge's " +
          "start-up banner names the --broker to use (default port 11883, KPM33B_INTERNAL_PORT).",
      );
    case "unknown_host":
      return unavailable(`The host name in --broker does not resolve: check ${hostname}.`);
    case "unreachable":
      return unavailable(
        `No route to ${host}: check the address in --broker and this machine's network.`,
      );
    case "timeout":
      return unavailable(
        `No answer from the broker within ${attempt.connectTimeoutMs / 1000} s: the host may be ` +
          "down, a firewall may drop the connection, or the port is not an MQTT port.",
      );
    case "untrusted_certificate":
    case "expired_certificate":
    case "certificate_host":
    case "tls":
      return unavailable(
        `TLS with ${host} failed: with mqtts:// the port must be the broker's TLS port, and its ` +
          "certificate must be valid, name the host and be signed by a CA this machine " +
          "trusts; or connect to the broker's plain mqtt:// port.",
      );
    default:
      return unavailable(`Is ${host} the address of an MQTT broker? Check --broker.`);
  }
}
