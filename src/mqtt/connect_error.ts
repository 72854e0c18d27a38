/**
 * What went wrong when a broker connection failed, and a message a user can
 * act on. {@link classifyConnectError} is the one classification; the bridge
 * explains it in terms of `config.yaml` ({@link explainConnectError}), the
 * simulator in terms of its options.
 *
 * @module
 */

const UNTRUSTED_CERTIFICATE = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
]);

const UNREACHABLE = new Set(["EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ETIMEDOUT"]);

const UNKNOWN_HOST = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME"]);

/**
 * Why a connection failed:
 * - `untrusted_certificate`, `expired_certificate`, `certificate_host`: the
 *   broker's TLS certificate is not signed by a trusted CA, has expired, or
 *   does not name the host connected to;
 * - `tls`: another TLS failure (e.g. `mqtts://` to a plain MQTT port);
 * - `credentials`: the broker refused the login (CONNACK return code 4 or 5,
 *   MQTT 5 reason code 0x86 or 0x87);
 * - `refused`: nothing listens on the port (ECONNREFUSED);
 * - `unknown_host`: the host name does not resolve;
 * - `unreachable`: no route to the host;
 * - `timeout`: no CONNACK within the connect timeout;
 * - `other`: anything else.
 */
export type ConnectFailure =
  | "untrusted_certificate"
  | "expired_certificate"
  | "certificate_host"
  | "tls"
  | "credentials"
  | "refused"
  | "unknown_host"
  | "unreachable"
  | "timeout"
  | "other";

/** Classifies a connection error of mqtt.js or the network below it. */
export function classifyConnectError(error: Error & { code?: unknown }): ConnectFailure {
  const code = typeof error.code === "string" ? error.code : "";
  const message = error.message;
  if (
    UNTRUSTED_CERTIFICATE.has(code) || /unknown ?issuer|self.signed|unable to verify/i.test(message)
  ) {
    return "untrusted_certificate";
  }
  if (code === "CERT_HAS_EXPIRED" || /expired/i.test(message)) return "expired_certificate";
  if (
    code === "ERR_TLS_CERT_ALTNAME_INVALID" || /altname|does not match|not valid for/i.test(message)
  ) {
    return "certificate_host";
  }
  if (/bad user ?name or password|not authori[sz]ed/i.test(message)) return "credentials";
  if (code === "ECONNREFUSED" || /\bECONNREFUSED\b/.test(message)) return "refused";
  if (UNKNOWN_HOST.has(code) || /\b(ENOTFOUND|EAI_AGAIN)\b/.test(message)) return "unknown_host";
  if (UNREACHABLE.has(code) || /\b(EHOSTUNREACH|ENETUNREACH)\b/.test(message)) {
    return "unreachable";
  }
  if (/^connack timeout$/i.test(message)) return "timeout";
  if (
    /^ERR_(SSL|TLS)_/.test(code) ||
    /\b(tls|ssl)\b|handshake|wrong version number|corrupt message|certificate/i.test(message)
  ) {
    return "tls";
  }
  return "other";
}

/**
 * The error's message, with what to change in `config.yaml` when the cause
 * is known.
 *
 * @param key the broker's configuration key, e.g. `central_broker`
 */
export function explainConnectError(key: string, error: Error & { code?: unknown }): string {
  const message = error.message;
  switch (classifyConnectError(error)) {
    case "untrusted_certificate":
      return `${message}: the broker's TLS certificate is not signed by a trusted CA; ` +
        `set ${key}.tls.ca_file to the CA certificate that signed it`;
    case "expired_certificate":
      return `${message}: the broker's TLS certificate has expired`;
    case "certificate_host":
      return `${message}: the broker's certificate does not name the host in ${key}.url`;
    case "credentials":
      return `${message}: check ${key}.username and ${key}.password`;
    default:
      return message;
  }
}
