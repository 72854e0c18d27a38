/** Real Mosquitto brokers on free loopback ports, stopped by pid. */
import {
  DYNSEC_FILE,
  mosquittoFiles,
  mosquittoPasswordHash,
} from "../../src/broker/mosquitto_files.ts";
import type { Config } from "../../src/config/schema.ts";
import { freePort, waitForPort } from "./ports.ts";

const CANDIDATES = ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto"];

/** The Mosquitto executable: `MOSQUITTO_BIN`, or the usual install paths. */
export function mosquittoBinary(): string {
  const fromEnv = Deno.env.get("MOSQUITTO_BIN");
  if (fromEnv) return fromEnv;
  for (const path of CANDIDATES) {
    try {
      Deno.statSync(path);
      return path;
    } catch {
      continue;
    }
  }
  throw new Error("mosquitto not found: apt-get install -y mosquitto (or set MOSQUITTO_BIN)");
}

/** Sends `signal` (SIGKILL after 3 s if it is still running) and waits for the exit. */
export async function terminate(
  child: Deno.ChildProcess,
  signal: Deno.Signal = "SIGTERM",
): Promise<void> {
  const kill = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // already exited
    }
  };
  kill(signal);
  const timer = setTimeout(() => kill("SIGKILL"), 3000);
  await child.status;
  clearTimeout(timer);
}

/** A running Mosquitto. */
export interface Mosquitto extends AsyncDisposable {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** Stops the broker (SIGTERM, then SIGKILL) and waits for it to exit. */
  stop(): Promise<void>;
  /** What the broker logged so far (stderr). */
  log(): string;
}

/**
 * Starts Mosquitto with an optional extra configuration text, on a free port
 * or on `port` (to restart a broker where clients expect it).
 */
export function startMosquitto(extraConfig = "", port = freePort()): Promise<Mosquitto> {
  return runMosquitto(
    `listener ${port} 127.0.0.1\nallow_anonymous true\n${
      extraConfig.includes("persistence") ? "" : "persistence false\n"
    }${extraConfig}\n`,
    port,
  );
}

/**
 * Runs Mosquitto with a complete configuration text listening on `port`. The
 * text is written to a temp directory, removed when the broker stops.
 */
export async function runMosquitto(configText: string, port: number): Promise<Mosquitto> {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-mosquitto-" });
  const configPath = `${dir}/mosquitto.conf`;
  await Deno.writeTextFile(configPath, configText);
  const child = new Deno.Command(mosquittoBinary(), {
    args: ["-c", configPath],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream());
  const log: string[] = [];
  const drained = (async () => {
    for await (const chunk of stderr) log.push(chunk);
  })();
  try {
    await waitForPort(port);
  } catch (error) {
    child.kill("SIGKILL");
    await child.status;
    await drained;
    throw new Error(`mosquitto did not start: ${error}\n${log.join("")}`);
  }
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      await terminate(child);
      await drained;
      await Deno.remove(dir, { recursive: true });
    })();
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    pid: child.pid,
    stop,
    log: () => log.join(""),
    [Symbol.asyncDispose]: stop,
  };
}

const SHIPPED = new URL("../../mosquitto/internal.conf", import.meta.url);

/**
 * The shipped configuration with only its port and file locations moved into
 * `dir`, and the generated files written there.
 */
export async function shippedInternalMosquitto(
  config: Config,
  dir: string,
  port: number,
): Promise<Mosquitto> {
  const files = await mosquittoFiles(config);
  await Deno.writeTextFile(`${dir}/${DYNSEC_FILE}`, files.dynsec, { mode: 0o600 });
  await Deno.mkdir(`${dir}/data`);
  // Mosquitto started as root drops to its own user before reading these files; as
  // another user the chown fails harmlessly and Mosquitto reads them as that user.
  await new Deno.Command("chown", {
    args: ["mosquitto", dir, `${dir}/${DYNSEC_FILE}`, `${dir}/data`],
    stderr: "null",
  }).output();
  const shipped = await Deno.readTextFile(SHIPPED);
  const text = shipped
    .replace(/^listener 11883$/m, `listener ${port} 127.0.0.1`)
    .replaceAll("mosquitto/", `${dir}/`);
  if (text === shipped) throw new Error("the shipped internal.conf changed shape");
  return await runMosquitto(text, port);
}

/** A line of a Mosquitto `password_file`: `user:$7$iterations$salt$hash`, as `mosquitto_passwd` writes. */
export async function passwordFileLine(username: string, password: string): Promise<string> {
  const { iterations, salt, password: hash } = await mosquittoPasswordHash(password);
  return `${username}:$7$${iterations}$${salt}$${hash}`;
}
