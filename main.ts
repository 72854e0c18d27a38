/**
 * kpm33b-bridge: loads the configuration, starts the workers with scoped
 * permissions, supervises them and shuts down cleanly on SIGINT / SIGTERM.
 *
 * @module
 */
import denoJson from "./deno.json" with { type: "json" };
import { parseCli, USAGE } from "./src/cli.ts";
import { ConfigError } from "./src/config/config_error.ts";
import { configWarnings } from "./src/config/config_warnings.ts";
import { applicable, restartOnlyChanges } from "./src/config/reload.ts";
import type { EnvLookup } from "./src/config/interpolate.ts";
import { loadConfig } from "./src/config/load.ts";
import { watchConfig } from "./src/config/watch.ts";
import type { Config } from "./src/config/schema.ts";
import { redactUrl } from "./src/config/redact.ts";
import { LogFile, LogFileError } from "./src/logging/log_file.ts";
import { closeLogging, logger, setupLogging } from "./src/logging/setup.ts";
import { banner } from "./src/banner.ts";
import { withBridgeCredentials } from "./src/broker/bridge_credentials.ts";
import { MosquittoFilesError } from "./src/broker/mosquitto_files.ts";
import { writeMosquittoAuth } from "./src/broker/mosquitto_auth_writer.ts";
import { resetMeterHistory } from "./src/outbox/reset_meter_history.ts";
import { OutboxInUseError, OutboxStoreError } from "./src/outbox/sqlite_outbox_store.ts";
import type { RequestResult } from "./src/worker/messages.ts";
import { StateDirInUseError, StateDirLock } from "./src/supervisor/state_dir_lock.ts";
import { Supervisor } from "./src/supervisor/supervisor.ts";
import { remoteWorkers, workerSpecs } from "./src/supervisor/workers.ts";

/** Exit code for an unusable configuration (sysexits EX_CONFIG). */
const EXIT_CONFIG = 78;
/** Exit code when an embedded broker cannot start (sysexits EX_UNAVAILABLE). */
const EXIT_UNAVAILABLE = 69;
/** Exit code when a file cannot be read or written (sysexits EX_IOERR). */
const EXIT_IOERR = 74;
/** Exit code when a resource is busy, e.g. the outbox of a running bridge (sysexits EX_TEMPFAIL). */
const EXIT_TEMPFAIL = 75;

const env: EnvLookup = (name) => Deno.env.get(name);

/** The whole shutdown, workers included, must fit in this. */
const SHUTDOWN_BUDGET_MS = 4500;

function summary(config: Config): string {
  return [
    `internal broker: ${redactUrl(config.internal_broker.url)}`,
    `central broker:  ${redactUrl(config.central_broker.url)}`,
    `topic root:      ${config.topics.root}`,
    `meter time zone: ${config.meters.timezone}`,
    `upload intervals: ${config.meters.upload_interval_seconds} s / ${config.meters.upload_interval_minutes} min`,
    `excluded meters: ${config.meters.exclude.length}, overrides: ${
      Object.keys(config.meters.overrides).length
    }`,
    ...(config.cluster.share_group === "" ? [] : [
      `cluster:         replica ${config.cluster.replica} of share group ${config.cluster.share_group}`,
    ]),
  ].join("\n");
}

/**
 * Runs the command line `args` asks for; resolves to the exit code. Exported for
 * entries that prepare a configuration first (the Home Assistant add-on).
 */
export async function main(args: readonly string[]): Promise<number> {
  const command = parseCli(args);
  switch (command.kind) {
    case "help":
      console.log(USAGE);
      return 0;
    case "version":
      console.log(denoJson.version);
      return 0;
    case "usage-error":
      console.error(`${command.message}\n\n${USAGE}`);
      return 64;
  }

  let config: Config;
  try {
    config = await loadConfig(command.configPath, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`Invalid configuration:\n${error.message}`);
    return EXIT_CONFIG;
  }
  if (command.kind === "check-config") {
    console.log(`${command.configPath} is valid\n${summary(config)}`);
    for (const warning of configWarnings(config)) console.warn(`warning: ${warning}`);
    return 0;
  }
  if (command.kind === "write-mosquitto-auth") {
    try {
      const written = await writeMosquittoAuth(config, command.dir);
      for (const warning of written.warnings) console.warn(`warning: ${warning}`);
      console.log(`wrote ${written.path}`);
      return 0;
    } catch (error) {
      if (!(error instanceof MosquittoFilesError)) throw error;
      console.error(error.message);
      return EXIT_CONFIG;
    }
  }

  if (command.kind === "reset-meter-history") {
    try {
      const reset = resetMeterHistory(config, command.id);
      console.log(
        reset.outcome === "forgotten"
          ? `forgot the filter history of ${command.id} in ${reset.path}: its next readings are ` +
            "taken as they come"
          : reset.outcome === "none"
          ? `${reset.path} holds no history of ${command.id}; nothing to do`
          : "outbox.enabled is false: the filter history lives in the running bridge only and " +
            "is gone after a restart",
      );
      return 0;
    } catch (error) {
      if (!(error instanceof OutboxStoreError)) throw error;
      if (!(error instanceof OutboxInUseError)) {
        console.error(error.message);
        return EXIT_IOERR;
      }
      console.error(
        `${error.message}. Stop the bridge first, or while it runs publish ` +
          `{"id":"${command.id}"} to ${config.topics.root}/bridge/request/meter/reset_history`,
      );
      return EXIT_TEMPFAIL;
    }
  }

  let stateLock: StateDirLock;
  try {
    stateLock = await StateDirLock.acquire(
      config.state_dir,
      command.workers.filter((worker) => worker === "proxy" || worker === "config_sender"),
    );
  } catch (error) {
    if (!(error instanceof StateDirInUseError)) throw error;
    console.error(error.message);
    return EXIT_TEMPFAIL;
  }

  let logFile: LogFile | undefined;
  if (config.logging.file !== undefined) {
    try {
      logFile = await LogFile.start(config.logging.file);
    } catch (error) {
      if (!(error instanceof LogFileError)) throw error;
      console.error(error.message);
      return EXIT_CONFIG;
    }
  }
  await setupLogging(config.logging, logFile && ((text) => logFile.write(text)));
  const shutDownLogging = async () => {
    await closeLogging();
    await logFile?.close();
  };
  const log = logger("main");
  log.info("kpm33b-bridge {version} starting with {config} (pid {pid})", {
    version: denoJson.version,
    config: command.configPath,
    pid: Deno.pid,
  });
  // Restart-only keys are compared with the file as loaded, before generated credentials.
  let loaded = config;
  config = withBridgeCredentials(config);
  for (const line of banner(config)) log.info("{line}", { line });
  for (const warning of configWarnings(config)) log.warning("{warning}", { warning });
  let reloadNow: () => Promise<RequestResult> = () =>
    Promise.resolve({ ok: false, error: "the bridge is still starting" });
  const remote = remoteWorkers(command.workers);
  if (config.cluster.share_group !== "" && remote.length === 0) {
    log.warning(
      "Replica {replica} runs the configuration flow too: with several replicas each sends every " +
        "meter its configuration. Run replicas with --workers proxy,http and the configuration " +
        "flow once with --workers config_sender (docs/scaling.md)",
      { replica: config.cluster.replica },
    );
  }
  if (remote.length > 0) {
    log.info("Running {workers}; {remote} run in other processes (--workers)", {
      workers: command.workers.join(", "),
      remote: remote.join(", "),
    });
  }
  const supervisor: Supervisor = new Supervisor(workerSpecs(config, command.workers), config, {
    remote,
    onLogLines: logFile && ((text) => logFile.write(text)),
    onBridgeEvent: (_from, event) => {
      if (event.type !== "reload_request") return;
      reloadNow().then((result) =>
        supervisor.broadcast({ type: "reload_result", request: event.request, result })
      );
    },
  });
  const failed = await supervisor.start();
  if (failed.length > 0) {
    // Without its embedded broker the bridge could end up talking to whatever holds the port.
    log.fatal("Could not start {workers} (see above); exiting", { workers: failed.join(", ") });
    await supervisor.stop(SHUTDOWN_BUDGET_MS);
    await shutDownLogging();
    return EXIT_UNAVAILABLE;
  }
  // Compared with the file as loaded: generated credentials are not a change of the file.
  const watcher = watchConfig(command.configPath, loaded, env, (next) => {
    const restartOnly = restartOnlyChanges(loaded, next);
    loaded = applicable(loaded, next);
    if (restartOnly.length > 0) {
      log.warning("Changes to {keys} take effect after a restart; applying the rest", {
        keys: restartOnly.join(", "),
      });
    }
    config = applicable(config, next);
    log.info("Configuration reloaded from {path}", { path: command.configPath });
    for (const warning of configWarnings(next)) log.warning("{warning}", { warning });
    supervisor.reconfigure(config);
  }, logger("config"));
  reloadNow = watcher.reload;

  const signal = await new Promise<Deno.Signal>((resolve) => {
    for (const name of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(name, () => resolve(name));
    }
  });
  log.info("Received {signal}; shutting down", { signal });
  watcher.stop();
  await supervisor.stop(SHUTDOWN_BUDGET_MS);
  log.info("Stopped");
  await shutDownLogging();
  stateLock.release();
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
