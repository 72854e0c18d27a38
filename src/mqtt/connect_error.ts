/**
 * Turns a broker connection error into a message a user can act on.
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

/**
 * The error's message, with what to change in `config.yaml` when the cause
 * is known.
 *
 * @param key the broker's configuration key, e.g. `central_broker`
 */
export function explainConnectError(key: string, error: Error & { code?: unknown }): string {
  const code = typeof error.code === "string" ? error.code : "";
  const message = error.message;
  if (
    UNTRUSTED_CERTIFICATE.has(code) || /unknown ?issuer|self.signed|unable to verify/i.test(message)
  ) {
    return `${message}: the broker's TLS certificate is not signed by a trusted CA; ` +
      `set ${key}.tls.ca_file to the CA certificate that signed it`;
  }
  if (code === "CERT_HAS_EXPIRED" || /expired/i.test(message)) {
    return `${message}: the broker's TLS certificate has expired`;
  }
  if (
    code === "ERR_TLS_CERT_ALTNAME_INVALID" || /altname|does not match|not valid for/i.test(message)
  ) {
    return `${message}: the broker's certificate does not name the host in ${key}.url`;
  }
  if (/bad user ?name or password|not authori[sz]ed/i.test(message)) {
    return `${message}: check ${key}.username and ${key}.password`;
  }
  return message;
}
