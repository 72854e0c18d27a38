/**
 * Mosquitto's password and ACL files for the meters' broker, generated from
 * `config.yaml` with the same rules as the embedded broker (see
 * `access_policy.ts`). Mosquitto cannot look into payloads, so the checks of
 * the `id` a payload carries (a bound meter sends only its own; no other
 * account sends a bound one) are the embedded broker's alone.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import { commandSuffix, type MeterId } from "../protocol/meter_id.ts";
import { METER_COMMANDS } from "../protocol/commands.ts";
import { UPLINK_TOPICS } from "./access_policy.ts";

/** PBKDF2 iterations Mosquitto 2 uses for `$7$` hashes. */
const ITERATIONS = 101;

const base64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

/** A Mosquitto 2 password hash (`$7$`: PBKDF2-SHA512), as `mosquitto_passwd` writes it. */
export async function mosquittoPasswordHash(
  password: string,
  salt: Uint8Array = crypto.getRandomValues(new Uint8Array(12)),
): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(password),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const hash = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-512", salt: salt as BufferSource, iterations: ITERATIONS },
    key,
    512,
  );
  return `$7$${ITERATIONS}$${base64(salt)}$${base64(new Uint8Array(hash))}`;
}

/** An account and what it may do. */
interface Account {
  readonly comment: string;
  readonly username: string;
  readonly password: string;
  /** Meter ids whose command topics it may read; `undefined`: everything. */
  readonly commandsOf?: readonly MeterId[];
}

/** Thrown when the configuration lacks what the files need. */
export class MosquittoFilesError extends Error {
  override readonly name = "MosquittoFilesError";
}

/** Meter ids the configuration mentions (names, overrides, bound accounts). */
export function knownMeterIds(config: Config): MeterId[] {
  return [
    ...new Set([
      ...Object.keys(config.meters.names),
      ...Object.keys(config.meters.overrides),
      ...Object.keys(config.internal_broker.meter_auth.accounts),
    ]),
  ].sort() as MeterId[];
}

function accounts(config: Config): Account[] {
  const internal = config.internal_broker;
  if (!internal.username || !internal.password) {
    throw new MosquittoFilesError(
      "internal_broker.username and internal_broker.password must be set: they are the " +
        "bridge's own account on Mosquitto (use ${VAR} for the password)",
    );
  }
  const auth = internal.meter_auth;
  const result: Account[] = [{
    comment: "The bridge's own clients: everything.",
    username: internal.username,
    password: internal.password,
  }];
  if (auth.password !== "") {
    // A bound meter's command topics are its account's alone, also those of another id
    // ending in the same 8 characters (the topics carry only those).
    const boundSuffixes = new Set(
      Object.keys(auth.accounts).map((id) => commandSuffix(id as MeterId)),
    );
    result.push({
      comment: "Shared meter account: uplink topics, and the command topics of the meters " +
        "named in config.yaml without an account of their own (Mosquitto's ACL cannot say " +
        "'any meter'; bind accounts to ids to keep meters apart).",
      username: auth.username,
      password: auth.password,
      commandsOf: knownMeterIds(config).filter((id) => !boundSuffixes.has(commandSuffix(id))),
    });
  }
  for (const [id, account] of Object.entries(auth.accounts)) {
    result.push({
      comment: `Meter ${id}: its own command topics only.`,
      username: account.username ?? id,
      password: account.password,
      commandsOf: [id as MeterId],
    });
  }
  const names = result.map((a) => a.username);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined) {
    throw new MosquittoFilesError(`username ${JSON.stringify(duplicate)} is used twice`);
  }
  return result;
}

/** The generated files' contents. */
export interface MosquittoFiles {
  readonly passwd: string;
  readonly acl: string;
  readonly warnings: readonly string[];
}

const HEADER = "# Generated from config.yaml by `deno task mosquitto:auth` " +
  "(or `kpm33b-bridge --write-mosquitto-auth`). Do not edit: " +
  "change config.yaml and run it again.\n";

/** Builds the password file and ACL file for a configuration. */
export async function mosquittoFiles(config: Config): Promise<MosquittoFiles> {
  const all = accounts(config);
  const warnings: string[] = [];
  if (config.internal_broker.embedded.enabled) {
    warnings.push(
      "internal_broker.embedded.enabled is true: the bridge would run its own meters' broker " +
        "on the port Mosquitto listens on; set it to false to use Mosquitto",
    );
  }
  if (all.length === 1) {
    warnings.push(
      "no meter can log in: set internal_broker.meter_auth.password (KPM33B_METER_PASSWORD) " +
        "or add internal_broker.meter_auth.accounts",
    );
  }
  const lines = await Promise.all(
    all.map(async (a) => `${a.username}:${await mosquittoPasswordHash(a.password)}`),
  );
  const acl = all.map((account) => {
    const rules = [`# ${account.comment}`, `user ${account.username}`];
    if (account.commandsOf === undefined) {
      rules.push("topic readwrite #");
    } else {
      rules.push(...UPLINK_TOPICS.map((topic) => `topic write ${topic}`));
      for (const id of account.commandsOf) {
        rules.push(...METER_COMMANDS.map((name) => `topic read MQTT_${name}_${commandSuffix(id)}`));
      }
    }
    return rules.join("\n");
  });
  return { passwd: `${lines.join("\n")}\n`, acl: `${HEADER}\n${acl.join("\n\n")}\n`, warnings };
}
