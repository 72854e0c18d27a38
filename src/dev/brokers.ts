/**
 * `deno task brokers`: the two Mosquitto brokers of a development set-up with
 * the shipped configurations, the meters' broker (`mosquitto/internal.conf`,
 * port 11883, accounts written from config.yaml) and the central
 * broker (`mosquitto/central.conf`, 127.0.0.1:1883, anonymous), until Ctrl-C.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError } from "../config/config_error.ts";
import { loadConfig } from "../config/load.ts";
import { MosquittoFilesError } from "../broker/mosquitto_files.ts";
import { writeMosquittoAuth } from "../broker/mosquitto_auth_writer.ts";

const USAGE =
  `Usage: deno task brokers [--config config.yaml] [--internal-port N] [--central-port N]

Starts Mosquitto twice from the project directory: mosquitto/internal.conf (the
meters' broker, port 11883) and mosquitto/central.conf (127.0.0.1:1883). The
meters' broker's accounts (mosquitto/dynamic-security.json) are written from
the configuration first, as \`deno task mosquitto:auth\` does. Ctrl-C stops both.

  --config PATH        configuration with the Mosquitto accounts (config.yaml)
  --internal-port N    another port for the meters' broker
  --central-port N     another port for the central broker
  --mosquitto PATH     the mosquitto program (default: MOSQUITTO_BIN, /usr/sbin/mosquitto)`;

/** Exit codes as the bridge's: configuration unusable, a broker unavailable. */
const EXIT_CONFIG = 78;
const EXIT_UNAVAILABLE = 69;

/** One of the two brokers: its shipped file and the listener line a port replaces. */
interface BrokerSpec {
  readonly name: "internal" | "central";
  readonly conf: string;
  readonly listener: RegExp;
  readonly host: string;
  readonly port: number;
}

/**
 * The configuration Mosquitto runs: the shipped file itself, or a copy with
 * only the listener port changed.
 */
async function configFile(spec: BrokerSpec, shippedPort: number, dir: string): Promise<string> {
  if (spec.port === shippedPort) return spec.conf;
  const text = await Deno.readTextFile(spec.conf);
  if (!spec.listener.test(text)) {
    throw new Error(`${spec.conf} has no line matching ${spec.listener}`);
  }
  const path = `${dir}/${spec.name}.conf`;
  await Deno.writeTextFile(
    path,
    text.replace(spec.listener, (line) => line.replace(/\d+/, String(spec.port))),
  );
  return path;
}

async function reachable(port: number, host: string): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: host, port })).close();
    return true;
  } catch {
    return false;
  }
}

/** Copies a broker's output to ours, each line prefixed with its name. */
async function relay(name: string, stream: ReadableStream<Uint8Array>): Promise<void> {
  const lines = stream.pipeThrough(new TextDecoderStream());
  let rest = "";
  for await (const chunk of lines) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    for (const line of parts) console.log(`[${name}] ${line}`);
  }
  if (rest !== "") console.log(`[${name}] ${rest}`);
}

/**
 * Mosquitto started as root drops to the user `mosquitto` before it reads the
 * accounts file and writes its data: hand them over to that user.
 */
async function handOverToMosquittoUser(paths: string[]): Promise<void> {
  if (Deno.uid() !== 0) return;
  const { code, stdout } = await new Deno.Command("id", {
    args: ["-u", "mosquitto"],
    stdout: "piped",
  })
    .output();
  if (code !== 0) return;
  const uid = Number(new TextDecoder().decode(stdout));
  for (const path of paths) await Deno.chown(path, uid, null);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      config: { type: "string", default: "config.yaml" },
      "internal-port": { type: "string", default: "11883" },
      "central-port": { type: "string", default: "1883" },
      mosquitto: {
        type: "string",
        default: Deno.env.get("MOSQUITTO_BIN") || "/usr/sbin/mosquitto",
      },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const specs: [BrokerSpec, BrokerSpec] = [
    {
      name: "internal",
      conf: "mosquitto/internal.conf",
      listener: /^listener 11883$/m,
      host: "127.0.0.1",
      port: Number(values["internal-port"]),
    },
    {
      name: "central",
      conf: "mosquitto/central.conf",
      listener: /^listener 1883 127\.0\.0\.1$/m,
      host: "127.0.0.1",
      port: Number(values["central-port"]),
    },
  ];
  for (const spec of specs) {
    if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535) {
      console.error(
        `--${spec.name}-port: ${values[`${spec.name}-port`]} is not a port\n\n${USAGE}`,
      );
      return 64;
    }
    if (await reachable(spec.port, spec.host)) {
      console.error(
        `port ${spec.port} is in use already (another broker, or the bridge's embedded one?): stop it or pass --${spec.name}-port`,
      );
      return EXIT_UNAVAILABLE;
    }
  }

  let meterUser: string;
  try {
    const config = await loadConfig(values.config, (name) => Deno.env.get(name));
    meterUser = config.internal_broker.meter_auth.username;
    const written = await writeMosquittoAuth(config, "mosquitto");
    for (const warning of written.warnings) console.warn(`warning: ${warning}`);
    await Deno.mkdir("mosquitto/data", { recursive: true });
    await handOverToMosquittoUser([written.path, "mosquitto/data"]);
  } catch (error) {
    if (!(error instanceof ConfigError) && !(error instanceof MosquittoFilesError)) throw error;
    console.error(
      `${error.message}\n\nThe meters' broker is Mosquitto here: in ${values.config} set ` +
        "internal_broker.embedded.enabled: false, internal_broker.username (e.g. bridge) and " +
        "password (e.g. ${KPM33B_INTERNAL_PASSWORD}), and KPM33B_METER_PASSWORD for the meters.",
    );
    return EXIT_CONFIG;
  }

  const dir = await Deno.makeTempDir({ prefix: "kpm33b-brokers-" });
  const brokers = await Promise.all(specs.map(async (spec) => {
    const conf = await configFile(spec, spec.name === "internal" ? 11883 : 1883, dir);
    const child = new Deno.Command(values.mosquitto, {
      args: ["-c", conf],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = Promise.all([relay(spec.name, child.stdout), relay(spec.name, child.stderr)]);
    return { spec, child, output };
  }));

  let stopping = false;
  const stopAll = async () => {
    stopping = true;
    for (const { child } of brokers) {
      try {
        child.kill("SIGTERM");
      } catch {
        // exited already
      }
    }
    await Promise.all(brokers.map(({ child, output }) => Promise.all([child.status, output])));
    await Deno.remove(dir, { recursive: true });
  };

  const outcome = await new Promise<number>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, () => resolve(0));
    }
    for (const { spec, child } of brokers) {
      child.status.then((status) => {
        if (stopping) return;
        console.error(
          `Mosquitto (${spec.name}) exited with code ${status.code}; stopping the other`,
        );
        resolve(EXIT_UNAVAILABLE);
      });
    }
    (async () => {
      const deadline = Date.now() + 10_000;
      for (const { spec } of brokers) {
        while (!(await reachable(spec.port, spec.host))) {
          if (Date.now() > deadline) {
            console.warn(`Mosquitto (${spec.name}) does not accept connections after 10 s`);
            return;
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      const [internal, central] = specs;
      console.log(
        `Brokers running. Meters' broker: mqtt://${internal.host}:${internal.port} ` +
          `(meters log in as "${meterUser}", the bridge as internal_broker.username); ` +
          `central: mqtt://${central.host}:${central.port} (anonymous). Ctrl-C stops both.`,
      );
    })();
  });
  await stopAll();
  if (outcome === 0) console.log("Brokers stopped");
  return outcome;
}

if (import.meta.main) Deno.exit(await main());
