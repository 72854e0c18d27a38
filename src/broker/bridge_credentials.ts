/**
 * The bridge's own account on its embedded internal broker. Without
 * configured credentials, a random password is made for each run: only the
 * bridge's workers (which receive it with their configuration) can use it.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";

/** Username of the generated account. */
export const BRIDGE_USERNAME = "kpm33b-bridge";

/**
 * The configuration with bridge credentials for an embedded internal broker
 * filled in: a configured password is kept (username defaulting to
 * `BRIDGE_USERNAME`), otherwise both are generated.
 */
export function withBridgeCredentials(config: Config): Config {
  const internal = config.internal_broker;
  if (!internal.embedded.enabled) return config;
  // An empty password (e.g. an unset ${VAR:-}) counts as none: it would let anyone in.
  if (internal.password !== undefined && internal.password !== "") {
    return internal.username === undefined
      ? { ...config, internal_broker: { ...internal, username: BRIDGE_USERNAME } }
      : config;
  }
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  const password = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return {
    ...config,
    internal_broker: { ...internal, username: internal.username ?? BRIDGE_USERNAME, password },
  };
}
