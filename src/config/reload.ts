/**
 * What a changed `config.yaml` does while the bridge runs: the reload policy
 * as data. Keys whose change needs new worker permissions, connections,
 * subscriptions or files take effect after a restart; the running bridge
 * keeps their old values (so nothing is logged as applied that is not) and
 * says which changes wait. Everything else is applied at once. Pure.
 *
 * @module
 */
import type { Config } from "./schema.ts";

/** How a change takes effect. */
export type Reload = "live" | "restart";

/**
 * The policy per key path; a path not listed follows its nearest listed
 * parent, and a top-level key not listed is live.
 */
export const RELOAD_POLICY: Readonly<Record<string, Reload>> = {
  /** Connections, the embedded brokers' listeners and their permissions. */
  internal_broker: "restart",
  central_broker: "restart",
  /** The workers' file permissions and the state lock. */
  state_dir: "restart",
  /** The listener and its permission; the token is checked per request. */
  http: "restart",
  "http.auth_token": "live",
  homeassistant: "restart",
  logging: "restart",
  cluster: "restart",
  /** Subscriptions, the last will and the cluster link are on the root. */
  topics: "restart",
  /** The outbox is opened once, at start. */
  outbox: "restart",
  meters: "live",
  /** The embedded meters' broker checks the size from its start. */
  limits: "live",
  "limits.max_payload_bytes": "restart",
};

const RESTART_PATHS = Object.entries(RELOAD_POLICY)
  .filter(([, policy]) => policy === "restart")
  .map(([path]) => path.split("."));

/** Live paths below a restart path, e.g. `http.auth_token` below `http`. */
const LIVE_BELOW_RESTART = Object.entries(RELOAD_POLICY)
  .filter(([path, policy]) => policy === "live" && reloadPolicyOfParent(path) === "restart")
  .map(([path]) => path.split("."));

function reloadPolicyOfParent(path: string): Reload | undefined {
  const parts = path.split(".");
  for (let n = parts.length - 1; n > 0; n--) {
    const policy = RELOAD_POLICY[parts.slice(0, n).join(".")];
    if (policy !== undefined) return policy;
  }
  return undefined;
}

/** How a change of the key at `path` (e.g. `http.port`) takes effect. */
export function reloadPolicy(path: string): Reload {
  return RELOAD_POLICY[path] ?? reloadPolicyOfParent(path) ?? "live";
}

type Tree = Record<string, unknown>;

function get(tree: unknown, path: readonly string[]): unknown {
  let node = tree;
  for (const key of path) node = (node as Tree | undefined)?.[key];
  return node;
}

/** A copy of `tree` with the value at `path` replaced (removed for `undefined`). */
function set(tree: Tree, path: readonly string[], value: unknown): Tree {
  const [key, ...rest] = path;
  // The value at the empty path is the whole tree.
  if (key === undefined) return value as Tree;
  if (rest.length === 0) {
    const { [key]: _, ...others } = tree;
    return value === undefined ? others : { ...others, [key]: value };
  }
  return { ...tree, [key]: set((tree[key] ?? {}) as Tree, rest, value) };
}

/** The value at a restart path, with its live parts taken from `live`. */
function restartValue(kept: unknown, live: unknown, path: readonly string[]): unknown {
  let value = get(kept, path);
  for (const below of LIVE_BELOW_RESTART) {
    if (below.length <= path.length || path.some((key, i) => below[i] !== key)) continue;
    value = set(value as Tree, below.slice(path.length), get(live, below));
  }
  return value;
}

/**
 * Restart-only key paths whose value differs between the running
 * configuration and the new one, e.g. `["http", "topics"]`.
 */
export function restartOnlyChanges(running: Config, next: Config): string[] {
  return RESTART_PATHS
    .filter((path) =>
      JSON.stringify(restartValue(running, next, path)) !==
        JSON.stringify(restartValue(next, next, path))
    )
    .map((path) => path.join("."));
}

/** What the running bridge applies of `next`: its restart-only values stay those of `running`. */
export function applicable(running: Config, next: Config): Config {
  let config = next as unknown as Tree;
  for (const path of RESTART_PATHS) config = set(config, path, restartValue(running, next, path));
  return config as unknown as Config;
}
