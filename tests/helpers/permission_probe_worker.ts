/**
 * Runs in a worker with a bridge worker's permissions and reports what it may
 * do (inside `stateDir` too, when given).
 * Loads the same prelude and npm client as the real proxy worker, so the test
 * also proves those load without extra permissions.
 */
import "../../src/runtime/empty_process_env.ts";
import mqtt from "mqtt";
import { SqliteOutboxStore } from "../../src/outbox/sqlite_outbox_store.ts";
import { attempt } from "./attempt.ts";

declare const self: {
  onmessage:
    | ((
      event: MessageEvent<{ allowedPort: number; deniedPort: number; stateDir?: string }>,
    ) => void)
    | null;
  postMessage(message: Record<string, string>): void;
};

self.onmessage = async ({ data }) => {
  const connectMqtt = () =>
    mqtt.connectAsync(`mqtt://127.0.0.1:${data.allowedPort}`, { reconnectPeriod: 0 })
      .then((client) => client.endAsync());
  const stateDir = data.stateDir;
  const inStateDir: Record<string, string> = stateDir === undefined ? {} : {
    writeState: await attempt(() => Deno.writeTextFile(`${stateDir}/probe.json`, "{}")),
    renameInState: await attempt(() =>
      Deno.rename(`${stateDir}/probe.json`, `${stateDir}/probe-renamed.json`)
    ),
    readState: await attempt(() => Deno.readTextFile(`${stateDir}/probe-renamed.json`)),
    openOutbox: await attempt(() => new SqliteOutboxStore(`${stateDir}/outbox.sqlite`).close()),
  };
  self.postMessage({
    ...inStateDir,
    mqttToBroker: await attempt(connectMqtt),
    netOtherPort: await attempt(() =>
      Deno.connect({ hostname: "127.0.0.1", port: data.deniedPort })
    ),
    readFile: await attempt(() => Deno.readTextFile("/etc/hostname")),
    readConfig: await attempt(() => Deno.readTextFile("config.yaml")),
    writeFile: await attempt(() => Deno.writeTextFile("/tmp/kpm33b-probe", "x")),
    // The store wraps the error; its cause tells why.
    openOutboxElsewhere: await attempt(() => {
      try {
        new SqliteOutboxStore("/tmp/kpm33b-probe.sqlite").close();
      } catch (error) {
        throw (error as Error).cause ?? error;
      }
    }),
    runSubprocess: await attempt(() => new Deno.Command("true").output()),
    env: await attempt(() => Deno.env.get("HOME")),
    ffi: await attempt(() => Deno.dlopen("libc.so.6", {})),
    sys: await attempt(() => Deno.hostname()),
  });
};
