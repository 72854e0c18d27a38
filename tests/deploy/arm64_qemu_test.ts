/**
 * The bridge on ARM gateways: the arm64 Deno, run under qemu-user-static,
 * starts the real bridge the way `deno task start` does, with the shipped
 * configuration and both brokers embedded (every worker runs), and bridges a
 * simulated meter's readings end to end. Emulation is slow, so waits are long
 * but bounded by one budget for the whole test.
 */
import assert from "node:assert/strict";
import { arm64Deno, type Arm64Emulator, arm64Emulator } from "../helpers/arm64_deno.ts";
import type { BridgeCommand } from "../helpers/bridge.ts";
import { startFlags } from "../helpers/deno_tasks.ts";
import { Budget, smokeTest } from "../helpers/smoke.ts";

/** `deno task start`'s command line with `deno` replaced by the emulated arm64 Deno. */
function emulatedTaskStart(emulator: Arm64Emulator, deno: string): BridgeCommand {
  return {
    program: emulator.qemu,
    args: ["-L", emulator.sysroot, deno, "run", ...startFlags(), "main.ts"],
  };
}

Deno.test("the arm64 Deno under qemu-user-static is aarch64 and the host's Deno version", async () => {
  const emulator = arm64Emulator();
  const deno = await arm64Deno();
  const budget = new Budget();
  const command = new Deno.Command(emulator.qemu, {
    args: [
      "-L",
      emulator.sysroot,
      deno,
      "eval",
      "console.log(Deno.build.arch, Deno.version.deno)",
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const decoder = new TextDecoder();
  const { code, stdout, stderr } = await budget.within(
    "deno eval under qemu",
    () => "",
    command.output(),
  ).catch((error) => {
    command.kill("SIGKILL");
    throw error;
  });
  assert.equal(code, 0, decoder.decode(stderr));
  assert.equal(decoder.decode(stdout).trim(), `aarch64 ${Deno.version.deno}`);
});

Deno.test("on arm64 under qemu, deno task start's command bridges a simulated meter and exits 0 on SIGTERM", async () => {
  const emulator = arm64Emulator();
  await smokeTest(emulatedTaskStart(emulator, await arm64Deno()));
});
