/**
 * An arm64 (aarch64) Deno that runs on this machine under qemu-user-static,
 * to check the bridge as it runs on ARM gateways (Raspberry Pi).
 */

/** Debian packages that provide the emulator and the arm64 libraries Deno links against. */
const PACKAGES = "qemu-user-static libc6-arm64-cross libgcc-s1-arm64-cross";
const QEMU = "qemu-aarch64-static";
const SYSROOT = "/usr/aarch64-linux-gnu";
/** What the arm64 Deno binary loads from the sysroot. */
const SYSROOT_LIBRARIES = ["lib/ld-linux-aarch64.so.1", "lib/libc.so.6", "lib/libgcc_s.so.1"];

/** The user-mode emulator and the arm64 sysroot it loads libraries from (`qemu -L`). */
export interface Arm64Emulator {
  readonly qemu: string;
  readonly sysroot: string;
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * Finds `qemu-aarch64-static` on `PATH` and the arm64 sysroot.
 *
 * @throws naming what is missing and the `apt-get install` line that provides it
 */
export function arm64Emulator(): Arm64Emulator {
  const qemu = (Deno.env.get("PATH") ?? "").split(":")
    .map((dir) => `${dir}/${QEMU}`)
    .find(isFile);
  const missing = [
    ...(qemu === undefined ? [`${QEMU} (on PATH)`] : []),
    ...SYSROOT_LIBRARIES.map((lib) => `${SYSROOT}/${lib}`).filter((path) => !isFile(path)),
  ];
  if (qemu === undefined || missing.length > 0) {
    throw new Error(
      `arm64 emulation is not available, missing: ${missing.join(", ")}. ` +
        `Install it with: apt-get install -y ${PACKAGES}`,
    );
  }
  return { qemu, sysroot: SYSROOT };
}

async function run(program: string, args: string[], cwd: string): Promise<void> {
  const { code, stdout, stderr } = await new Deno.Command(program, { args, cwd }).output();
  if (code !== 0) {
    const decoder = new TextDecoder();
    throw new Error(
      `${program} ${args.join(" ")} exited with ${code}:\n` +
        decoder.decode(stdout) + decoder.decode(stderr),
    );
  }
}

/**
 * Path of the arm64 Deno `version` (by default the running one), from the npm
 * package `@deno/linux-arm64-glibc`. Downloaded once into
 * `${XDG_CACHE_HOME:-$HOME/.cache}/kpm33b-bridge/deno-aarch64-<version>/deno`;
 * it is unpacked beside that directory and renamed into place, so a run that
 * is interrupted, or races another, never leaves a partial binary there.
 */
export async function arm64Deno(version: string = Deno.version.deno): Promise<string> {
  const home = Deno.env.get("HOME");
  const cache = Deno.env.get("XDG_CACHE_HOME") || (home ? `${home}/.cache` : undefined);
  if (cache === undefined) throw new Error("neither XDG_CACHE_HOME nor HOME is set");
  const parent = `${cache}/kpm33b-bridge`;
  const dir = `${parent}/deno-aarch64-${version}`;
  const binary = `${dir}/deno`;
  if (isFile(binary)) return binary;

  await Deno.mkdir(parent, { recursive: true });
  // Same file system as `dir`, so the final rename is atomic.
  const staging = await Deno.makeTempDir({ dir: parent, prefix: `.deno-aarch64-${version}-` });
  try {
    await run("npm", [
      "pack",
      `@deno/linux-arm64-glibc@${version}`,
      "--pack-destination",
      staging,
    ], staging);
    const tarball = [...Deno.readDirSync(staging)].find((entry) => entry.name.endsWith(".tgz"));
    if (tarball === undefined) throw new Error(`npm pack left no tarball in ${staging}`);
    await run("tar", ["-xzf", tarball.name], staging);
    const unpacked = `${staging}/package`;
    if (!isFile(`${unpacked}/deno`)) throw new Error(`the npm package has no deno binary`);
    await Deno.chmod(`${unpacked}/deno`, 0o755);
    try {
      await Deno.rename(unpacked, dir);
    } catch (error) {
      // Another run renamed its copy into place first.
      if (!isFile(binary)) throw error;
    }
  } finally {
    await Deno.remove(staging, { recursive: true });
  }
  return binary;
}
