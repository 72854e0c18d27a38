/**
 * A stand-in Kubernetes API server for Helm's server-side rendering
 * (`helm template --dry-run=server`): it answers discovery for the kinds the
 * chart renders and serves the Secrets it was given, so templates'
 * `lookup` calls see a release's existing objects; every other object is
 * absent. Nothing is ever stored.
 */
import { withTempDir } from "./files.ts";

/** A Secret the server holds: its namespace, name and (plain text) data. */
export interface StoredSecret {
  readonly namespace: string;
  readonly name: string;
  readonly data: Readonly<Record<string, string>>;
  /** The release that owns it, as Helm labels and annotates its objects. */
  readonly release?: string;
}

const CORE = {
  configmaps: "ConfigMap",
  secrets: "Secret",
  services: "Service",
  serviceaccounts: "ServiceAccount",
  persistentvolumeclaims: "PersistentVolumeClaim",
};
const GROUPS: Record<string, Record<string, string>> = {
  "apps/v1": { deployments: "Deployment", statefulsets: "StatefulSet" },
  "networking.k8s.io/v1": { networkpolicies: "NetworkPolicy" },
  "policy/v1": { poddisruptionbudgets: "PodDisruptionBudget" },
  "monitoring.coreos.com/v1": { servicemonitors: "ServiceMonitor" },
};

function resourceList(groupVersion: string, resources: Record<string, string>) {
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion,
    resources: Object.entries(resources).map(([name, kind]) => ({
      name,
      singularName: kind.toLowerCase(),
      namespaced: true,
      kind,
      verbs: ["get", "list", "create", "update", "patch", "delete"],
    })),
  };
}

function secretObject(secret: StoredSecret) {
  const owner = secret.release === undefined ? {} : {
    labels: { "app.kubernetes.io/managed-by": "Helm" },
    annotations: {
      "meta.helm.sh/release-name": secret.release,
      "meta.helm.sh/release-namespace": secret.namespace,
    },
  };
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: secret.name, namespace: secret.namespace, ...owner },
    type: "Opaque",
    data: Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, btoa(v)])),
  };
}

function answer(url: URL, secrets: readonly StoredSecret[]): [number, unknown] {
  const path = url.pathname;
  if (path === "/version") return [200, { major: "1", minor: "35", gitVersion: "v1.35.0" }];
  if (path === "/api") return [200, { kind: "APIVersions", versions: ["v1"] }];
  if (path === "/api/v1") return [200, resourceList("v1", CORE)];
  if (path === "/apis") {
    const groups = Object.keys(GROUPS).map((groupVersion) => {
      const [name, version] = groupVersion.split("/");
      const preferred = { groupVersion, version };
      return { name, versions: [preferred], preferredVersion: preferred };
    });
    return [200, { kind: "APIGroupList", apiVersion: "v1", groups }];
  }
  const group = /^\/apis\/(.+)$/.exec(path)?.[1];
  if (group !== undefined && GROUPS[group]) return [200, resourceList(group, GROUPS[group])];
  const wanted = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(path);
  const secret = wanted && secrets.find((s) => s.namespace === wanted[1] && s.name === wanted[2]);
  if (secret) return [200, secretObject(secret)];
  return [404, {
    kind: "Status",
    apiVersion: "v1",
    status: "Failure",
    reason: "NotFound",
    code: 404,
  }];
}

/**
 * Runs `body` with the path of a kubeconfig pointing at a stand-in API server
 * holding `secrets`; the server stops afterwards.
 */
export async function withKubeApi<T>(
  secrets: readonly StoredSecret[],
  body: (kubeconfig: string) => Promise<T>,
): Promise<T> {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const [status, payload] = answer(new URL(request.url), secrets);
    return Response.json(payload, { status });
  });
  try {
    return await withTempDir(async (dir) => {
      const kubeconfig = `${dir}/kubeconfig`;
      await Deno.writeTextFile(
        kubeconfig,
        JSON.stringify({
          apiVersion: "v1",
          kind: "Config",
          clusters: [{ name: "test", cluster: { server: `http://127.0.0.1:${server.addr.port}` } }],
          users: [{ name: "test", user: {} }],
          contexts: [{ name: "test", context: { cluster: "test", user: "test" } }],
          "current-context": "test",
        }),
      );
      return await body(kubeconfig);
    }, "kpm33b-kube-");
  } finally {
    await server.shutdown();
  }
}
