import assert from "node:assert/strict";
import { StateDirInUseError, StateDirLock } from "../../src/supervisor/state_dir_lock.ts";

/** Runs a second Deno process that tries to take `workers` in `dir`; returns what it printed. */
async function otherProcess(dir: string, workers: readonly string[]): Promise<string> {
  const module = new URL("../../src/supervisor/state_dir_lock.ts", import.meta.url).href;
  const script = `import { StateDirLock } from "${module}";
try {
  await StateDirLock.acquire(${JSON.stringify(dir)}, ${JSON.stringify(workers)});
  console.log("acquired");
} catch (error) {
  console.log(error.name + ": " + error.message);
}`;
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
  }).output();
  return new TextDecoder().decode(stdout).trim();
}

Deno.test("a second process is refused a worker's state_dir this process holds, naming the holder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-lock-" });
  try {
    const lock = await StateDirLock.acquire(`${dir}/state`, ["proxy"]);
    const holder = await Deno.readTextFile(`${dir}/state/proxy.lock`);
    assert.match(holder, new RegExp(`^pid ${Deno.pid} since \\d{4}-`));
    const refused = await otherProcess(`${dir}/state`, ["proxy"]);
    assert.match(refused, /^StateDirInUseError: .*\/state\/proxy\.lock is held by another bridge/);
    assert.ok(refused.includes(`pid ${Deno.pid} since`), refused);
    assert.match(refused, /each bridge needs its own state_dir/);
    // Another worker's state in the same directory is free: proxy and configuration flow may
    // run as two processes on one machine.
    assert.equal(await otherProcess(`${dir}/state`, ["config_sender"]), "acquired");
    lock.release();
    assert.equal(await otherProcess(`${dir}/state`, ["proxy", "config_sender"]), "acquired");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a refused process keeps none of the locks it took before the busy one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kpm33b-lock-" });
  try {
    const module = new URL("../../src/supervisor/state_dir_lock.ts", import.meta.url).href;
    // Another process holds config_sender for a while.
    const holder = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--quiet",
        `import { StateDirLock } from "${module}";
await StateDirLock.acquire(${JSON.stringify(dir)}, ["config_sender"]);
console.log("held");
await new Promise((resolve) => setTimeout(resolve, 60_000));`,
      ],
      stdout: "piped",
    }).spawn();
    try {
      const reader = holder.stdout.getReader();
      const { value } = await reader.read();
      assert.equal(new TextDecoder().decode(value).trim(), "held");
      reader.releaseLock();
      await assert.rejects(
        StateDirLock.acquire(dir, ["proxy", "config_sender"]),
        StateDirInUseError,
      );
      assert.equal(await otherProcess(dir, ["proxy"]), "acquired", "proxy was given up again");
    } finally {
      holder.kill("SIGKILL");
      await holder.status;
      await holder.stdout.cancel().catch(() => {});
    }
    // The lock goes with the process, also when it is killed.
    assert.equal(await otherProcess(dir, ["config_sender"]), "acquired");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
