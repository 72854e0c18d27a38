/**
 * Mosquitto's accounts for the meters' broker, generated from `config.yaml`
 * with the same rules as the embedded broker (see `access_policy.ts`), as the
 * configuration file of Mosquitto's dynamic security plugin.
 *
 * The plugin, not `password_file`/`acl_file`: the shared meter account must
 * read the command topics of any meter (a meter named nowhere in config.yaml
 * included) but not the uplink topics it publishes, which carry every meter's
 * readings. Command topics are single topic levels with the meter's id inside
 * (`MQTT_SET_25950027`), so no wildcard selects them; an ACL file's
 * `topic deny` refuses reading and publishing alike, so it cannot hide the
 * uplink topics from an account that must publish them. The plugin's
 * `publishClientReceive` rules deny reading only.
 *
 * Mosquitto cannot look into payloads, so the checks of the `id` a payload
 * carries (a bound meter sends only its own; no other account sends a bound
 * one) are the embedded broker's alone.
 *
 * @module
 */
import type { Config } from "../config/schema.ts";
import { commandSuffix, type MeterId } from "../protocol/meter_id.ts";
import { METER_COMMANDS } from "../protocol/commands.ts";
import { UPLINK_TOPICS } from "./access_policy.ts";

/** The generated file's name, as `mosquitto/internal.conf` names it. */
export const DYNSEC_FILE = "dynamic-security.json";

/** PBKDF2 iterations Mosquitto 2 uses (`mosquitto_passwd`, the dynamic security plugin). */
const ITERATIONS = 101;

const base64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

/** A password as the dynamic security plugin stores it: PBKDF2-SHA512, base64. */
export interface StoredPassword {
  readonly password: string;
  readonly salt: string;
  readonly iterations: number;
}

/** Hashes a password as Mosquitto 2 does (`mosquitto_passwd`'s `$7$` holds the same parts). */
export async function mosquittoPasswordHash(
  password: string,
  salt: Uint8Array = crypto.getRandomValues(new Uint8Array(12)),
): Promise<StoredPassword> {
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
  return { password: base64(new Uint8Array(hash)), salt: base64(salt), iterations: ITERATIONS };
}

/** One rule of a dynamic security role. */
export interface DynsecAcl {
  readonly acltype:
    | "publishClientSend"
    | "publishClientReceive"
    | "subscribeLiteral"
    | "subscribePattern";
  readonly topic: string;
  /** Higher first; a deny must outrank the broad grant it narrows. */
  readonly priority: number;
  readonly allow: boolean;
}

/** A role: what its accounts may do. */
export interface DynsecRole {
  readonly rolename: string;
  readonly textDescription: string;
  readonly acls: readonly DynsecAcl[];
}

/** An account and what it may do. */
interface Account {
  readonly username: string;
  readonly password: string;
  readonly role: DynsecRole;
}

/** Thrown when the configuration lacks what the files need. */
export class MosquittoFilesError extends Error {
  override readonly name = "MosquittoFilesError";
}

const rule = (
  acltype: DynsecAcl["acltype"],
  topic: string,
  allow = true,
  priority = 0,
): DynsecAcl => ({ acltype, topic, priority, allow });

const commandTopics = (id: MeterId) =>
  METER_COMMANDS.map((name) => `MQTT_${name}_${commandSuffix(id)}`);

const publishUplink = () => UPLINK_TOPICS.map((topic) => rule("publishClientSend", topic));

/** Read (and subscribe to) nothing of these, whatever a broader rule grants. */
const hide = (topics: readonly string[]) =>
  topics.flatMap((topic) => [
    rule("publishClientReceive", topic, false, 1),
    rule("subscribeLiteral", topic, false, 1),
  ]);

function accounts(config: Config): Account[] {
  const internal = config.internal_broker;
  if (!internal.username || !internal.password) {
    throw new MosquittoFilesError(
      "internal_broker.username and internal_broker.password must be set: they are the " +
        "bridge's own account on Mosquitto (use ${VAR} for the password)",
    );
  }
  const auth = internal.meter_auth;
  const bound = Object.keys(auth.accounts) as MeterId[];
  const result: Account[] = [{
    username: internal.username,
    password: internal.password,
    role: {
      rolename: "kpm33b-bridge",
      textDescription: "The bridge's own clients: everything.",
      acls: [
        rule("publishClientSend", "#"),
        rule("publishClientReceive", "#"),
        rule("subscribePattern", "#"),
      ],
    },
  }];
  if (auth.password !== "") {
    result.push({
      username: auth.username,
      password: auth.password,
      role: {
        rolename: "kpm33b-meters",
        textDescription: "Shared meter account: publishes uplink topics and reads any meter's " +
          "command topics, except those of meters with an account of their own (also those " +
          "of another id ending in the same 8 characters: the topics carry only those). It " +
          "reads no uplink topic: other meters' readings and replies stay private.",
        acls: [
          ...publishUplink(),
          ...hide([...UPLINK_TOPICS, ...bound.flatMap(commandTopics)]),
          // Command topics are single levels; the bridge's other topics are not.
          rule("publishClientReceive", "+"),
          rule("subscribePattern", "+"),
        ],
      },
    });
  }
  for (const [id, account] of Object.entries(auth.accounts)) {
    result.push({
      username: account.username ?? id,
      password: account.password,
      role: {
        rolename: `kpm33b-meter-${id}`,
        textDescription: `Meter ${id}: publishes uplink topics, reads its own command topics only.`,
        acls: [
          ...publishUplink(),
          ...commandTopics(id as MeterId).flatMap((topic) => [
            rule("publishClientReceive", topic),
            rule("subscribeLiteral", topic),
          ]),
        ],
      },
    });
  }
  const names = result.map((a) => a.username);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined) {
    throw new MosquittoFilesError(`username ${JSON.stringify(duplicate)} is used twice`);
  }
  return result;
}

/** The generated file's contents. */
export interface MosquittoFiles {
  /** The dynamic security plugin's configuration (JSON, holds password hashes). */
  readonly dynsec: string;
  readonly warnings: readonly string[];
}

const GENERATED = "Generated from config.yaml by `deno task mosquitto:auth` " +
  "(or `kpm33b-bridge --write-mosquitto-auth`). Do not edit: change config.yaml and run it again.";

/** Builds the dynamic security plugin's configuration for a configuration. */
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
  const clients = await Promise.all(all.map(async (account) => ({
    username: account.username,
    textName: GENERATED,
    ...await mosquittoPasswordHash(account.password),
    roles: [{ rolename: account.role.rolename }],
  })));
  const dynsec = {
    defaultACLAccess: {
      publishClientSend: false,
      publishClientReceive: false,
      subscribe: false,
      unsubscribe: true,
    },
    clients,
    groups: [],
    roles: all.map((account) => account.role),
  };
  return { dynsec: `${JSON.stringify(dynsec, null, 2)}\n`, warnings };
}
