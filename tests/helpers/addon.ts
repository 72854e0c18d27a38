/**
 * The add-on's entry outside Home Assistant: a fake Supervisor answering
 * `GET /services/mqtt` for one token, an `options.json` in a temp directory
 * standing in for /data, a real Mosquitto with a password as Home Assistant's
 * broker, and the entry run as a real process.
 */
import { freePort, waitForPort } from "./ports.ts";
import { type Mosquitto, passwordFileLine, runMosquitto } from "./mosquitto.ts";

/** The account the fake Supervisor hands out, as the Mosquitto add-on makes one. */
export const SERVICE_ACCOUNT = { username: "addons", password: "Sup3r-generated" } as const;

/** A fake Supervisor API on a free loopback port, recording the requests it got. */
export interface FakeSupervisor extends AsyncDisposable {
  readonly url: string;
  readonly requests: { path: string; authorization: string | null }[];
}

/** Answers `/services/mqtt` with `service` (or "Service not enabled") for `token` only. */
export function fakeSupervisor(
  token: string,
  service: Record<string, unknown> | undefined,
): FakeSupervisor {
  const requests: FakeSupervisor["requests"] = [];
  const port = freePort();
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, (request) => {
    const path = new URL(request.url).pathname;
    const authorization = request.headers.get("authorization");
    requests.push({ path, authorization });
    if (authorization !== `Bearer ${token}`) {
      return Response.json({ result: "error", message: "Unauthorized" }, { status: 401 });
    }
    if (path !== "/services/mqtt") return new Response("404: Not Found", { status: 404 });
    if (service === undefined) {
      return Response.json({ result: "error", message: "Service not enabled" }, { status: 400 });
    }
    return Response.json({ result: "ok", data: { ...service, addon: "core_mosquitto" } });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** Mosquitto refusing anyone but {@link SERVICE_ACCOUNT}, as the Mosquitto add-on does. */
export async function passwordMosquitto(): Promise<Mosquitto> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-ha-broker-" });
  const passwd = `${dir}/passwd`;
  await Deno.writeTextFile(
    passwd,
    `${await passwordFileLine(SERVICE_ACCOUNT.username, SERVICE_ACCOUNT.password)}\n`,
    { mode: 0o644 },
  );
  await Deno.chmod(dir, 0o755);
  const broker = await runMosquitto(
    `listener ${port} 127.0.0.1\nallow_anonymous false\npassword_file ${passwd}\n` +
      "persistence false\n",
    port,
  );
  return {
    ...broker,
    stop: async () => {
      await broker.stop();
      await Deno.remove(dir, { recursive: true });
    },
    [Symbol.asyncDispose]: async () => {
      await broker.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A run of the add-on's entry: a stand-in /data, free ports, output collected. */
export interface AddonProcess extends AsyncDisposable {
  readonly data: string;
  readonly configPath: string;
  readonly metersPort: number;
  readonly httpPort: number;
  output(): string;
  /** Resolves to the exit code. */
  readonly status: Promise<number>;
  /** Waits until the status page's port answers; fails if the process exits first. */
  listening(): Promise<void>;
}

/**
 * Runs `program args` (the entry, `--options …` etc. appended) in `cwd` with
 * `options` as /data/options.json and `env` (SUPERVISOR_TOKEN, DENO_DIR).
 */
export async function runAddon(
  command: { program: string; args: readonly string[]; cwd: string },
  options: Record<string, unknown>,
  supervisorUrl: string,
  env: Record<string, string>,
): Promise<AddonProcess> {
  const data = await Deno.makeTempDir({ prefix: "kpm33b-addon-data-" });
  await Deno.writeTextFile(`${data}/options.json`, JSON.stringify(options));
  const metersPort = freePort();
  const httpPort = freePort();
  const configPath = `${data}/kpm33b-bridge.yaml`;
  const child = new Deno.Command(command.program, {
    args: [
      ...command.args,
      "--options",
      `${data}/options.json`,
      "--config",
      configPath,
      "--state-dir",
      `${data}/state`,
      "--supervisor",
      supervisorUrl,
      "--meters-port",
      String(metersPort),
      "--http-port",
      String(httpPort),
    ],
    cwd: command.cwd,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  const drained = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status.then(async ({ code }) => {
    await drained;
    return code;
  });
  let exited = false;
  status.then(() => exited = true);
  return {
    data,
    configPath,
    metersPort,
    httpPort,
    output: () => text,
    status,
    async listening() {
      const ready = waitForPort(httpPort, 60_000);
      const ended = status.then((code) => {
        throw new Error(`the add-on exited with ${code}:\n${text}`);
      });
      ended.catch(() => {});
      await Promise.race([ready, ended]);
    },
    async [Symbol.asyncDispose]() {
      if (!exited) {
        child.kill("SIGTERM");
        const killer = setTimeout(() => !exited && child.kill("SIGKILL"), 10_000);
        await status;
        clearTimeout(killer);
      }
      await Deno.remove(data, { recursive: true });
    },
  };
}
