/**
 * A Mosquitto that admits only the accounts in its password file, with the
 * file rewritten and reloaded (SIGHUP) while it runs, and a crash (SIGKILL)
 * and restart on the same port. Fault-injection tests use it to decide who
 * may connect after a restart: the test's consumer first, the bridge once the
 * consumer has subscribed again, so nothing the bridge delivers in between is
 * lost at the consumer.
 *
 * Started as root, Mosquitto drops to the user `mosquitto` and reads the
 * password file (also on SIGHUP, with the configuration) as that user: the
 * directory and files are made readable for it.
 */
import { passwordFileLine } from "./mosquitto.ts";
import { mosquittoBinary, terminate } from "./mosquitto.ts";
import { freePort, waitForPort } from "./ports.ts";

export interface Account {
  readonly username: string;
  readonly password: string;
}

/** Mosquitto with `allow_anonymous false` and a password file the test rewrites. */
export class GatedMosquitto implements AsyncDisposable {
  #child: Deno.ChildProcess | undefined;
  #log: string[] = [];
  #drained: Promise<void> = Promise.resolve();

  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly configPath: string,
    readonly passwordPath: string,
  ) {}

  /** Starts on a free port (or `port`), admitting `accounts`; `extraConfig` is appended. */
  static async start(
    accounts: readonly Account[],
    extraConfig = "",
    port = freePort(),
  ): Promise<GatedMosquitto> {
    const dir = await Deno.makeTempDir({ prefix: "kpm33b-gated-mosquitto-" });
    await Deno.chmod(dir, 0o755);
    const configPath = `${dir}/mosquitto.conf`;
    const passwordPath = `${dir}/passwd`;
    await Deno.writeTextFile(
      configPath,
      `listener ${port} 127.0.0.1\nallow_anonymous false\npassword_file ${passwordPath}\n` +
        `persistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n` +
        `log_type notice\nlog_type information\n${extraConfig}\n`,
      { mode: 0o644 },
    );
    const broker = new GatedMosquitto(port, dir, configPath, passwordPath);
    await broker.#writeAccounts(accounts);
    await new Deno.Command("chown", { args: ["mosquitto", passwordPath], stderr: "null" })
      .output();
    await broker.#spawn();
    return broker;
  }

  /** `mqtt://127.0.0.1:<port>`. */
  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** The running Mosquitto's pid. */
  get pid(): number {
    if (this.#child === undefined) throw new Error("mosquitto is not running");
    return this.#child.pid;
  }

  /** What Mosquitto logged so far. */
  log(): string {
    return this.#log.join("");
  }

  async #writeAccounts(accounts: readonly Account[]): Promise<void> {
    const lines = await Promise.all(
      accounts.map(async (a) => `${await passwordFileLine(a.username, a.password)}\n`),
    );
    // Rewritten in place, so the file keeps its owner (`mosquitto`).
    await Deno.writeTextFile(this.passwordPath, lines.join(""), { mode: 0o600 });
  }

  async #spawn(): Promise<void> {
    const child = new Deno.Command(mosquittoBinary(), {
      args: ["-c", this.configPath],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    const log = this.#log;
    this.#drained = (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) log.push(chunk);
    })();
    try {
      await waitForPort(this.port);
    } catch (error) {
      await this.#halt("SIGKILL");
      throw new Error(`mosquitto did not start: ${error}\n${this.log()}`);
    }
  }

  /**
   * Rewrites the password file with `accounts` and makes Mosquitto reload it
   * (SIGHUP); resolves once Mosquitto logged the reload, with the time (epoch
   * ms) it began. Measure from that time: a client retrying its connection
   * may be admitted, and publish, before the reload is seen in the log.
   */
  async admit(accounts: readonly Account[], timeoutMs = 5000): Promise<number> {
    const began = Date.now();
    await this.#writeAccounts(accounts);
    const before = this.log().split("Reloading config").length;
    Deno.kill(this.pid, "SIGHUP");
    const deadline = Date.now() + timeoutMs;
    while (this.log().split("Reloading config").length === before) {
      if (Date.now() > deadline) throw new Error(`mosquitto did not reload:\n${this.log()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return began;
  }

  /**
   * Stops Mosquitto with `signal` and waits for it to exit, keeping its files
   * for {@link restart}. SIGKILL (default) is a crash: nothing is saved.
   */
  kill(signal: Deno.Signal = "SIGKILL"): Promise<void> {
    return this.#halt(signal);
  }

  /** Starts Mosquitto again on the same port, admitting only `accounts`. */
  async restart(accounts: readonly Account[]): Promise<void> {
    if (this.#child !== undefined) throw new Error("mosquitto is still running");
    await this.#writeAccounts(accounts);
    await this.#spawn();
  }

  async #halt(signal: Deno.Signal): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    await terminate(child, signal);
    await this.#drained;
    this.#child = undefined;
  }

  /** Stops Mosquitto (SIGTERM, then SIGKILL) and removes its directory. */
  async stop(): Promise<void> {
    await this.#halt("SIGTERM");
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
