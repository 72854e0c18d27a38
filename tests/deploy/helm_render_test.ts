/**
 * The Helm chart in deploy/helm/kpm33b-bridge/, rendered by the real Helm
 * (tests/helpers/helm.ts): `helm lint --strict` and `helm template` of the
 * defaults and every example with the passwords its install command gives,
 * each rendered object validated against the Kubernetes (and Prometheus
 * Operator) schemas of the npm kubernetes-models packages; a chart version
 * bump changes no field Kubernetes refuses to change; the values schema
 * refuses unknown configuration keys; secrets the configuration needs are
 * required when the chart renders, and kept on an upgrade (Helm's `lookup`
 * against a stand-in API server, tests/helpers/kube_api.ts).
 */
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import {
  ConfigMap,
  PersistentVolumeClaim,
  Secret,
  Service,
  ServiceAccount,
} from "kubernetes-models/v1";
import { Deployment, StatefulSet } from "kubernetes-models/apps/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { helm } from "../helpers/helm.ts";
import { withTempDir } from "../helpers/files.ts";
import { withKubeApi } from "../helpers/kube_api.ts";

const CHART = new URL("../../deploy/helm/kpm33b-bridge/", import.meta.url).pathname;
const RELEASE = "kpm33b";
const NAMESPACE = "kpm33b";

type Manifest = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
};

/** One way to install the chart: values files and `--set-string` pairs. */
interface Install {
  readonly name: string;
  readonly files: readonly string[];
  readonly strings: Readonly<Record<string, string>>;
}

/** The `--set-string secret.x=…` an example's install command in its header comment gives. */
function documentedStrings(text: string): Record<string, string> {
  const strings: Record<string, string> = {};
  for (const [, key = ""] of text.matchAll(/--set-string (secret\.[\w.]+)=/g)) {
    strings[key] = `value-of-${key}`;
  }
  return strings;
}

const EXAMPLES: Install[] = [...Deno.readDirSync(`${CHART}examples`)]
  .map((entry) => entry.name).filter((name) => name.endsWith(".yaml")).sort()
  .map((name) => ({
    name: `examples/${name}`,
    files: [`${CHART}examples/${name}`],
    strings: documentedStrings(Deno.readTextFileSync(`${CHART}examples/${name}`)),
  }));

const PASSWORDS = { "secret.meterPassword": "m", "secret.centralPassword": "c" };

const DEFAULT_INSTALL: Install = { name: "the default values", files: [], strings: PASSWORDS };

const INSTALLS: Install[] = [
  DEFAULT_INSTALL,
  ...EXAMPLES,
  {
    name: "every optional object on",
    files: [],
    strings: {
      ...PASSWORDS,
      "podDisruptionBudget.enabled": "true",
      "serviceMonitor.enabled": "true",
      "service.type": "NodePort",
      "persistence.storageClass": "-",
      "config.http.auth_token": "${KPM33B_HTTP_TOKEN}",
      "secret.extra.KPM33B_HTTP_TOKEN": "t",
    },
  },
];

function helmArgs(install: Install): string[] {
  return [
    ...install.files.flatMap((file) => ["-f", file]),
    ...Object.entries(install.strings).flatMap(([key, value]) => [
      key.endsWith(".enabled") ? "--set" : "--set-string",
      `${key}=${value}`,
    ]),
  ];
}

/** `helm template` of the chart at `chart`; the error output when it refuses. */
async function render(
  install: Install,
  extra: readonly string[] = [],
  chart = CHART,
  kubeconfig?: string,
): Promise<{ ok: boolean; manifests: Manifest[]; error: string }> {
  // Against a cluster, templates' lookup sees its objects (the schemas are checked above).
  const server = kubeconfig === undefined
    ? []
    : ["--dry-run=server", "--disable-openapi-validation"];
  const result = await helm([
    "template",
    RELEASE,
    chart,
    "--namespace",
    NAMESPACE,
    ...server,
    ...helmArgs(install),
    ...extra,
  ], kubeconfig);
  if (result.code !== 0) return { ok: false, manifests: [], error: result.stderr };
  const manifests = parseAllDocuments(result.stdout)
    .map((doc) => doc.toJS() as Manifest | null)
    .filter((doc): doc is Manifest => doc !== null);
  return { ok: true, manifests, error: "" };
}

async function renderOk(install: Install, extra: readonly string[] = []): Promise<Manifest[]> {
  const { ok, manifests, error } = await render(install, extra);
  assert.ok(ok, `helm template of ${install.name} failed:\n${error}`);
  return manifests;
}

function find(manifests: readonly Manifest[], kind: string): Manifest {
  const found = manifests.find((m) => m.kind === kind);
  assert.ok(found, `a ${kind} is rendered`);
  return found;
}

// deno-lint-ignore no-explicit-any
type Model = new (data: any) => { validate(): void };

const MODELS: Record<string, Model> = {
  "v1/ConfigMap": ConfigMap,
  "v1/PersistentVolumeClaim": PersistentVolumeClaim,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "v1/ServiceAccount": ServiceAccount,
  "apps/v1/Deployment": Deployment,
  "apps/v1/StatefulSet": StatefulSet,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
};

for (const install of INSTALLS) {
  Deno.test(`helm lint --strict passes for ${install.name}`, async () => {
    const result = await helm(["lint", "--strict", CHART, ...helmArgs(install)]);
    const output = result.stdout + result.stderr;
    assert.equal(result.code, 0, output);
    assert.match(output, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.doesNotMatch(output, /\[(WARNING|ERROR)\]/);
  });

  for (const kubeVersion of ["1.25.0", "1.35.0"]) {
    Deno.test(
      `helm template of ${install.name} (Kubernetes ${kubeVersion}) gives valid objects`,
      async () => {
        const manifests = await renderOk(install, ["--kube-version", kubeVersion]);
        assert.ok(manifests.length >= 5, "the chart renders its objects");
        for (const manifest of manifests) {
          const model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
          assert.ok(model, `a schema for ${manifest.apiVersion} ${manifest.kind}`);
          assert.doesNotThrow(
            () => new model(manifest).validate(),
            `${manifest.kind} ${manifest.metadata.name}`,
          );
        }
      },
    );
  }
}

Deno.test("the Kubernetes schemas refuse a broken object, so the validation above can fail", () => {
  const [deployment] = [{
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "x" },
    spec: { selector: {}, replicas: "one", template: { spec: { containers: [] } } },
  }];
  assert.throws(() => new Deployment(deployment as never).validate(), /replicas/);
});

/**
 * Fields Kubernetes refuses to change on an existing object, by kind: an
 * upgrade that changes one fails. Every kind the chart renders is listed, so
 * a new kind has to be considered here.
 */
const IMMUTABLE: Record<string, readonly string[]> = {
  StatefulSet: [
    "spec.selector",
    "spec.volumeClaimTemplates",
    "spec.serviceName",
    "spec.podManagementPolicy",
  ],
  Deployment: ["spec.selector"],
  Service: ["spec.clusterIP", "spec.clusterIPs"],
  PersistentVolumeClaim: ["spec"],
  Secret: ["type", "immutable"],
  ConfigMap: ["immutable"],
  ServiceAccount: [],
  NetworkPolicy: [],
  PodDisruptionBudget: [],
  ServiceMonitor: [],
};

function at(object: unknown, path: string): unknown {
  let node = object;
  for (const key of path.split(".")) node = (node as Record<string, unknown> | undefined)?.[key];
  return node;
}

/** Each object's immutable fields, by kind and name. */
function immutableFields(manifests: readonly Manifest[]): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const manifest of manifests) {
    const paths = IMMUTABLE[manifest.kind];
    assert.ok(paths, `the immutable fields of a ${manifest.kind} are known`);
    fields[`${manifest.kind}/${manifest.metadata.name}`] = Object.fromEntries(
      paths.map((path) => [path, at(manifest, path)]),
    );
  }
  return fields;
}

/** A copy of the chart whose version and appVersion are those of the next release. */
async function bumpedChart(dir: string): Promise<string> {
  const copy = `${dir}/kpm33b-bridge/`;
  await Deno.mkdir(`${copy}templates`, { recursive: true });
  for (const name of ["values.yaml", "values.schema.json"]) {
    await Deno.copyFile(`${CHART}${name}`, `${copy}${name}`);
  }
  for (const entry of Deno.readDirSync(`${CHART}templates`)) {
    await Deno.copyFile(`${CHART}templates/${entry.name}`, `${copy}templates/${entry.name}`);
  }
  const chart = await Deno.readTextFile(`${CHART}Chart.yaml`);
  const bumped = chart
    .replace(/^version: .*$/m, "version: 99.1.0")
    .replace(/^appVersion: .*$/m, 'appVersion: "99.2.0"');
  assert.notEqual(bumped, chart);
  await Deno.writeTextFile(`${copy}Chart.yaml`, bumped);
  return copy;
}

Deno.test("a chart version bump changes no immutable field of any object", async () => {
  await withTempDir(async (dir) => {
    const next = await bumpedChart(dir);
    const persistent = { ...PASSWORDS, "persistence.storageClass": "fast" };
    const installs = [...INSTALLS, { name: "a storage class", files: [], strings: persistent }];
    let claimTemplates = 0;
    for (const install of installs) {
      const before = await renderOk(install);
      const after = await render(install, [], next);
      assert.ok(after.ok, after.error);
      // The bump shows where versions are rendered (the objects' labels).
      assert.notDeepEqual(after.manifests, before, install.name);
      assert.deepEqual(immutableFields(after.manifests), immutableFields(before), install.name);
      claimTemplates += before.filter((m) => at(m, "spec.volumeClaimTemplates")).length;
    }
    assert.ok(claimTemplates > 0, "a StatefulSet with volume claim templates was compared");
  });
});

Deno.test("helm refuses configuration keys the bridge does not know", async () => {
  const install = { name: "typos", files: [], strings: PASSWORDS };
  const timezone = await render(install, ["--set-string", "config.meters.timezon=UTC"]);
  assert.equal(timezone.ok, false);
  assert.match(timezone.error, /\/config\/meters.*additional properties 'timezon' not allowed/);
  const colour = await render(install, ["--set-string", "config.colour=blue"]);
  assert.equal(colour.ok, false);
  assert.match(colour.error, /'colour' not allowed/);
  const interval = await render(install, ["--set", "config.meters.upload_interval_seconds=45"]);
  assert.equal(interval.ok, false);
  assert.match(interval.error, /upload_interval_seconds/);
});

Deno.test("a password the configuration needs is required when the chart renders", async () => {
  const central = await render({
    name: "no central password",
    files: [],
    strings: { "secret.meterPassword": "m" },
  });
  assert.equal(central.ok, false);
  assert.match(
    central.error,
    /config references \$\{KPM33B_CENTRAL_PASSWORD\} without a default, but nothing sets it.*--set-string secret\.centralPassword=/,
  );
  const token = await render({
    name: "a token variable nobody sets",
    files: [],
    strings: { ...PASSWORDS, "config.http.auth_token": "${KPM33B_HTTP_TOKEN}" },
  });
  assert.equal(token.ok, false);
  assert.match(token.error, /\$\{KPM33B_HTTP_TOKEN\}.*secret\.extra\.KPM33B_HTTP_TOKEN/);
  // extraEnv sets it as well; a reference with a default needs nothing.
  await renderOk({ name: "from extraEnv", files: [], strings: { "secret.meterPassword": "m" } }, [
    "--set-string",
    "extraEnv[0].name=KPM33B_CENTRAL_PASSWORD",
    "--set-string",
    "extraEnv[0].value=c",
  ]);
  await renderOk({
    name: "optional password",
    files: [],
    strings: {
      "secret.meterPassword": "m",
      "config.central_broker.password": "${KPM33B_CENTRAL_PASSWORD:-}",
    },
  });
});

Deno.test("the Secret the pod's environment comes from is not optional", async () => {
  const existing = EXAMPLES.find((e) => e.name === "examples/existing-secret.yaml")!;
  const mosquitto = EXAMPLES.find((e) => e.name === "examples/mosquitto.yaml")!;
  for (const install of [existing, mosquitto, DEFAULT_INSTALL]) {
    const manifests = await renderOk(install);
    const spec = at(find(manifests, "Deployment"), "spec.template.spec") as Record<
      string,
      { envFrom?: { secretRef: { name: string; optional?: boolean } }[] }[] | undefined
    >;
    const containers = [...spec.containers ?? [], ...spec.initContainers ?? []];
    const refs = containers.flatMap((c) => c.envFrom ?? []).map((e) => e.secretRef);
    assert.ok(refs.length > 0, install.name);
    for (const ref of refs) assert.equal(ref.optional, undefined, install.name);
  }
  const manifests = await renderOk(existing);
  assert.equal(manifests.some((m) => m.kind === "Secret"), false, "no Secret of the chart's own");
});

Deno.test("the bridge's own Mosquitto password is generated when not given", async () => {
  const mosquitto = { ...EXAMPLES.find((e) => e.name === "examples/mosquitto.yaml")! };
  const strings = { ...mosquitto.strings };
  delete strings["secret.internalPassword"];
  const manifests = await renderOk({ ...mosquitto, strings });
  const data = find(manifests, "Secret").data as Record<string, string>;
  assert.match(atob(data.KPM33B_INTERNAL_PASSWORD ?? ""), /^[A-Za-z0-9]{48}$/);
  const config = (find(manifests, "ConfigMap").data as Record<string, string>)["config.yaml"] ??
    "";
  assert.match(config, /password: \$\{KPM33B_INTERNAL_PASSWORD\}/);
});

Deno.test("the ServiceMonitor sends the bridge's token from its Secret", async () => {
  const everything = INSTALLS.find((i) => i.name === "every optional object on");
  assert.ok(everything !== undefined);
  const monitor = find(await renderOk(everything), "ServiceMonitor");
  const [endpoint] = at(monitor, "spec.endpoints") as Record<string, unknown>[];
  assert.deepEqual(endpoint?.authorization, {
    type: "Bearer",
    credentials: { name: `${RELEASE}-kpm33b-bridge`, key: "KPM33B_HTTP_TOKEN" },
  });
  // Named explicitly, e.g. a Secret of the monitoring namespace.
  const explicit = find(
    await renderOk(everything, [
      "--set-string",
      "serviceMonitor.namespace=monitoring",
      "--set-string",
      "serviceMonitor.authorization.credentials.name=scrape",
      "--set-string",
      "serviceMonitor.authorization.credentials.key=token",
    ]),
    "ServiceMonitor",
  );
  assert.deepEqual(
    (at(explicit, "spec.endpoints") as Record<string, unknown>[])[0]?.authorization,
    {
      credentials: { name: "scrape", key: "token" },
    },
  );
  // A literal token cannot be found in a Secret: the chart asks for one.
  const literal = await render(everything, ["--set-string", "config.http.auth_token=abc"]);
  assert.equal(literal.ok, false);
  assert.match(literal.error, /set serviceMonitor\.authorization/);
  // Without a token nothing is sent.
  const strings = { ...everything.strings };
  delete strings["config.http.auth_token"];
  const open = find(await renderOk({ ...everything, strings }), "ServiceMonitor");
  const [openEndpoint] = at(open, "spec.endpoints") as Record<string, unknown>[];
  assert.ok(openEndpoint !== undefined);
  assert.equal(openEndpoint.authorization, undefined);
});

Deno.test("an upgrade keeps the passwords the configuration still needs from the release's Secret", async () => {
  const release = {
    namespace: NAMESPACE,
    name: `${RELEASE}-kpm33b-bridge`,
    release: RELEASE,
    data: {
      KPM33B_METER_PASSWORD: "meters",
      KPM33B_CENTRAL_PASSWORD: "central",
      KPM33B_NO_LONGER_USED: "old",
    },
  };
  await withKubeApi([release], async (kubeconfig) => {
    const upgrade = { name: "an upgrade without passwords", files: [], strings: {} };
    const kept = await render(upgrade, [], CHART, kubeconfig);
    assert.ok(kept.ok, kept.error);
    const data = find(kept.manifests, "Secret").data as Record<string, string>;
    assert.deepEqual(
      Object.fromEntries(Object.entries(data).map(([key, value]) => [key, atob(value)])),
      { KPM33B_METER_PASSWORD: "meters", KPM33B_CENTRAL_PASSWORD: "central" },
    );
    // A value given again replaces the kept one.
    const given = { ...upgrade, strings: { "secret.centralPassword": "new" } };
    const replaced = await render(given, [], CHART, kubeconfig);
    assert.ok(replaced.ok, replaced.error);
    const secret = find(replaced.manifests, "Secret").data as Record<string, string>;
    assert.equal(atob(secret.KPM33B_CENTRAL_PASSWORD ?? ""), "new");
  });
  // Without the release's Secret the same upgrade is refused.
  await withKubeApi([], async (kubeconfig) => {
    const { ok, error } = await render(
      { name: "a first install", files: [], strings: { "secret.meterPassword": "m" } },
      [],
      CHART,
      kubeconfig,
    );
    assert.equal(ok, false);
    assert.match(error, /\$\{KPM33B_CENTRAL_PASSWORD\}/);
  });
});

Deno.test("an existingSecret that lacks a key the configuration needs is refused", async () => {
  const example = EXAMPLES.find((e) => e.name === "examples/existing-secret.yaml")!;
  const complete = {
    KPM33B_METER_PASSWORD: "m",
    KPM33B_CENTRAL_PASSWORD: "c",
    KPM33B_PANEL_0027_PASSWORD: "p",
  };
  const { KPM33B_PANEL_0027_PASSWORD: _, ...lacking } = complete;
  const secret = { namespace: NAMESPACE, name: "kpm33b-credentials" };
  await withKubeApi([{ ...secret, data: lacking }], async (kubeconfig) => {
    const { ok, error } = await render(example, [], CHART, kubeconfig);
    assert.equal(ok, false);
    assert.match(
      error,
      /\$\{KPM33B_PANEL_0027_PASSWORD\}.*Secret kpm33b-credentials \(existingSecret\) has no key KPM33B_PANEL_0027_PASSWORD/,
    );
  });
  await withKubeApi([{ ...secret, data: complete }], async (kubeconfig) => {
    const { ok, error } = await render(example, [], CHART, kubeconfig);
    assert.ok(ok, error);
  });
});
