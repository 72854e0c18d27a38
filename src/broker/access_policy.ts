/**
 * Who may do what on the meters' (internal) broker — one set of rules for the
 * embedded broker, which enforces them per packet, and for Mosquitto, whose
 * accounts file (its dynamic security plugin's configuration) is generated
 * from them.
 *
 * - The bridge's own clients may do everything.
 * - A meter may publish only uplink topics (readings, DI/DO state, command
 *   replies) and subscribe only to command topics (`MQTT_<command>_<last 8>`).
 * - A meter whose account is bound to its id may subscribe only to its own
 *   command topics, and a payload carrying another `id` is refused.
 * - A bound id belongs to its account: other meter accounts (the shared one)
 *   may neither publish a payload carrying it nor subscribe to its command
 *   topics (nor to any sharing their last 8 characters).
 *
 * Pure: no I/O.
 *
 * @module
 */
import type { MeterAuthConfig } from "../config/schema.ts";
import { METER_COMMANDS } from "../protocol/commands.ts";
import { commandSuffix, type MeterId } from "../protocol/meter_id.ts";
import { UPLINK_SCHEMAS, type UplinkTopic } from "../protocol/uplink.ts";

/** Topics a meter may publish. */
export const UPLINK_TOPICS = Object.keys(UPLINK_SCHEMAS) as UplinkTopic[];

const COMMAND_TOPIC = new RegExp(`^MQTT_(?:${METER_COMMANDS.join("|")})_([0-9A-Z]{8})$`);

/** Who a connected client is. */
export type Principal =
  | { readonly kind: "bridge" }
  | { readonly kind: "meter"; readonly username: string; readonly boundTo?: MeterId };

/** Credentials of the bridge's own clients. */
export interface BridgeCredentials {
  readonly username: string;
  /** Empty: no client is the bridge (an empty password never authenticates). */
  readonly password: string;
  /** The bridge's client ids start with this; nobody else may use them (and take a session over). */
  readonly clientIdPrefix?: string;
}

/** A decision with the reason for a refusal. */
export type Decision = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const ALLOW: Decision = { ok: true };
const deny = (reason: string): Decision => ({ ok: false, reason });

/** Compares secrets in time independent of where they differ. */
function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let difference = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) difference |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return difference === 0;
}

/** The rules of one internal broker. */
export class AccessPolicy {
  readonly #bound = new Map<string, { id: MeterId; password: string }>();
  /** Bound meter ids, and their command suffixes, with the username of their account. */
  readonly #boundIds = new Map<string, string>();
  readonly #boundSuffixes = new Map<string, { id: MeterId; username: string }>();

  constructor(readonly meters: MeterAuthConfig, readonly bridge: BridgeCredentials) {
    for (const [id, account] of Object.entries(meters.accounts)) {
      const username = account.username ?? id;
      this.#bound.set(username, { id: id as MeterId, password: account.password });
      this.#boundIds.set(id, username);
      this.#boundSuffixes.set(commandSuffix(id as MeterId), { id: id as MeterId, username });
    }
  }

  /** Whether meters must authenticate (a meter password or bound accounts exist). */
  get requiresAuthentication(): boolean {
    return this.meters.password !== "" || this.#bound.size > 0;
  }

  /** Identifies a client by its CONNECT credentials; `undefined` refuses it. */
  authenticate(username: string | undefined, password: string | undefined): Principal | undefined {
    if (username === this.bridge.username) {
      return this.bridge.password !== "" && sameSecret(password ?? "", this.bridge.password)
        ? { kind: "bridge" }
        : undefined;
    }
    const bound = username === undefined ? undefined : this.#bound.get(username);
    if (bound !== undefined) {
      return sameSecret(password ?? "", bound.password)
        ? { kind: "meter", username: username!, boundTo: bound.id }
        : undefined;
    }
    if (!this.requiresAuthentication) {
      // No meter credentials at all: anyone who reaches the (loopback-only) listener is a meter.
      return { kind: "meter", username: username ?? "" };
    }
    return this.meters.password !== "" && username === this.meters.username &&
        sameSecret(password ?? "", this.meters.password)
      ? { kind: "meter", username }
      : undefined;
  }

  /** Whether the client may connect with this client id (meters may not pose as the bridge). */
  mayUseClientId(principal: Principal, clientId: string): Decision {
    const prefix = this.bridge.clientIdPrefix;
    if (principal.kind === "bridge" || !prefix || !clientId.startsWith(prefix)) return ALLOW;
    return deny(`client id ${JSON.stringify(clientId)} is reserved for the bridge`);
  }

  /** Whether a message on `topic` may be delivered to the client. */
  mayReceive(principal: Principal, topic: string): boolean {
    return this.maySubscribe(principal, topic).ok;
  }

  /** Whether the client may publish `payload` on `topic`. */
  mayPublish(principal: Principal, topic: string, payload: Uint8Array): Decision {
    if (principal.kind === "bridge") return ALLOW;
    if (!(UPLINK_TOPICS as string[]).includes(topic)) {
      return deny(`meters may publish only uplink topics, not ${JSON.stringify(topic)}`);
    }
    if (principal.boundTo === undefined) {
      if (this.#boundIds.size === 0) return ALLOW;
      const id = payloadId(payload);
      const owner = id === undefined ? undefined : this.#boundIds.get(id);
      return owner === undefined ? ALLOW : deny(
        `payload id ${id} is bound to account ${owner}; ${this.#who(principal)} may not use it`,
      );
    }
    const id = payloadId(payload);
    return id === principal.boundTo ? ALLOW : deny(
      `account ${principal.username} is bound to ${principal.boundTo}, payload id is ${
        JSON.stringify(id ?? null)
      }`,
    );
  }

  /** Whether the client may subscribe to `filter`. */
  maySubscribe(principal: Principal, filter: string): Decision {
    if (principal.kind === "bridge") return ALLOW;
    const suffix = COMMAND_TOPIC.exec(filter)?.[1];
    if (suffix === undefined) {
      return deny(
        `meters may subscribe only to their command topics, not ${JSON.stringify(filter)}`,
      );
    }
    if (principal.boundTo !== undefined && suffix !== commandSuffix(principal.boundTo)) {
      return deny(
        `account ${principal.username} is bound to ${principal.boundTo}, not *_${suffix}`,
      );
    }
    const owner = principal.boundTo === undefined ? this.#boundSuffixes.get(suffix) : undefined;
    if (owner !== undefined) {
      return deny(
        `*_${suffix} are the command topics of ${owner.id}, bound to account ${owner.username}; ` +
          `${this.#who(principal)} may not read them`,
      );
    }
    return ALLOW;
  }

  #who(principal: Extract<Principal, { kind: "meter" }>): string {
    return principal.username === "" ? "an anonymous meter" : `account ${principal.username}`;
  }
}

/** The `id` of a JSON payload, or `undefined` when there is none. */
function payloadId(payload: Uint8Array): string | undefined {
  try {
    const value = JSON.parse(new TextDecoder().decode(payload));
    return typeof value?.id === "string" ? value.id : undefined;
  } catch {
    return undefined;
  }
}
