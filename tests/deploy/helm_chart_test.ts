/**
 * The Helm chart in deploy/helm/kpm33b-bridge/, checked as files (Helm itself
 * renders it in helm_render_test.ts): values.schema.json accepts the default values and every example
 * (merged over the defaults as Helm merges them) and rejects broken values for
 * the stated reason; the templates' actions are balanced and nest properly;
 * every `.Values` path a template reads exists in values.yaml; values.yaml
 * documents every setting; the chart's Mosquitto configuration keeps the
 * settings of mosquitto/internal.conf; and the configurations the chart ships
 * are valid bridge configurations.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { parse } from "yaml";
import assert from "node:assert/strict";
import { interpolate } from "../../src/config/interpolate.ts";
import { Config } from "../../src/config/schema.ts";

const CHART = new URL("../../deploy/helm/kpm33b-bridge/", import.meta.url);
const INTERNAL_CONF = new URL("../../mosquitto/internal.conf", import.meta.url);

type Values = Record<string, unknown>;

function isMap(value: unknown): value is Values {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function readChartFile(path: string): string {
  return Deno.readTextFileSync(new URL(path, CHART));
}

function readYaml(path: string): Values {
  const value = parse(readChartFile(path)) ?? {};
  assert.ok(isMap(value), `${path} holds a map`);
  return value;
}

/** File names in a chart directory, sorted so failures read the same every run. */
function filesIn(dir: string): string[] {
  return [...Deno.readDirSync(new URL(dir, CHART))]
    .filter((entry) => entry.isFile)
    .map((entry) => entry.name)
    .sort();
}

/**
 * Helm's coalescing of user values over the chart's: maps merge key by key,
 * anything else (lists included) replaces, and null removes the key.
 */
function coalesce(defaults: Values, overrides: Values): Values {
  const result: Values = { ...defaults };
  for (const [key, value] of Object.entries(overrides)) {
    const current = result[key];
    if (value === null) delete result[key];
    else if (isMap(value) && isMap(current)) result[key] = coalesce(current, value);
    else result[key] = value;
  }
  return result;
}

let compiled: ValidateFunction | undefined;

/** values.schema.json compiled in strict mode (union types such as integer-or-null allowed). */
function schemaValidator(): ValidateFunction {
  compiled ??= new Ajv({ strict: true, allErrors: true, allowUnionTypes: true }).compile(
    JSON.parse(readChartFile("values.schema.json")),
  );
  return compiled;
}

function schemaErrors(values: Values): ErrorObject[] {
  const validate = schemaValidator();
  return validate(values) ? [] : [...(validate.errors ?? [])];
}

function describeErrors(errors: readonly ErrorObject[]): string {
  return errors.map((e) => `${e.instancePath || "(root)"} ${e.message} ${JSON.stringify(e.params)}`)
    .join("\n");
}

/** One `{{ … }}` of a template, its text without delimiters and trim markers. */
interface Action {
  readonly text: string;
  readonly line: number;
  /** Offsets of the action's first and one past its last character. */
  readonly start: number;
  readonly end: number;
}

/** The actions of a template (comments left out) and what is malformed about them. */
interface Scan {
  readonly actions: Action[];
  readonly errors: string[];
}

function lineAt(source: string, offset: number): number {
  return source.slice(0, offset).split("\n").length;
}

/** Offset just past the quoted literal starting at `at`, or -1 when it does not end. */
function skipLiteral(source: string, at: number): number {
  const quote = source[at];
  for (let i = at + 1; i < source.length; i++) {
    const ch = source[i];
    // Only raw strings (backquotes) may span lines or hold unescaped backslashes.
    if (quote !== "`" && ch === "\\") i++;
    else if (quote !== "`" && ch === "\n") return -1;
    else if (ch === quote) return i + 1;
  }
  return -1;
}

/**
 * Splits a Go template into its actions, as text/template's lexer does:
 * `{{- ` and ` -}}` trim markers, comments `{{/* … *\/}}` (which must end at
 * the delimiter), and string, raw string and character literals, inside which
 * braces mean nothing. A `{{` inside an action means the previous one never
 * closed.
 */
function scanTemplate(source: string): Scan {
  const actions: Action[] = [];
  const errors: string[] = [];
  let at = source.indexOf("{{");
  while (at !== -1) {
    const line = lineAt(source, at);
    let i = at + 2;
    if (source[i] === "-" && /\s/.test(source[i + 1] ?? "")) i += 2;
    while (/\s/.test(source[i] ?? "")) i++;
    let next: number;
    if (source.startsWith("/*", i)) {
      const close = source.indexOf("*/", i + 2);
      const after = close === -1 ? null : /^(\s+-)?}}/.exec(source.slice(close + 2));
      if (close === -1 || after === null) {
        errors.push(`line ${line}: comment not closed with */}}`);
        break;
      }
      next = close + 2 + after[0].length;
    } else {
      let close = -1;
      for (let j = i; j < source.length;) {
        if (source.startsWith("}}", j)) {
          close = j;
          break;
        }
        if (source.startsWith("{{", j)) break;
        if (`"'\``.includes(source.charAt(j))) {
          const past = skipLiteral(source, j);
          if (past === -1) break;
          j = past;
        } else j++;
      }
      if (close === -1) {
        errors.push(`line ${line}: action not closed with }}`);
        break;
      }
      const text = source.slice(i, close).replace(/\s+-$/, "").trim();
      actions.push({ text, line, start: at, end: close + 2 });
      next = close + 2;
    }
    at = source.indexOf("{{", next);
  }
  return { actions, errors };
}

const BLOCKS = new Set(["if", "range", "with", "define", "block"]);
const ELSE_IN = new Set(["if", "range", "with"]);

function keyword(action: Action): string | undefined {
  return /^[A-Za-z_]\w*/.exec(action.text)?.[0];
}

/**
 * Pairs each block action with its `end`: for every opened block, the index
 * of its `end` in `actions` (or -1 when it has none), and the nesting errors.
 */
function matchBlocks(actions: readonly Action[]): { ends: Map<number, number>; errors: string[] } {
  const ends = new Map<number, number>();
  const errors: string[] = [];
  const open: { index: number; action: Action }[] = [];
  actions.forEach((action, index) => {
    const word = keyword(action);
    const top = open.at(-1);
    if (word !== undefined && BLOCKS.has(word)) {
      open.push({ index, action });
    } else if (word === "else") {
      if (top === undefined || !ELSE_IN.has(keyword(top.action) ?? "")) {
        errors.push(`line ${action.line}: else outside if, range or with`);
      }
    } else if (word === "end") {
      if (top === undefined) errors.push(`line ${action.line}: end without an open block`);
      else ends.set(open.pop()!.index, index);
    }
  });
  for (const { index, action } of open) {
    ends.set(index, -1);
    errors.push(`line ${action.line}: ${keyword(action)} without end`);
  }
  return { ends, errors };
}

/** Everything wrong with a template's delimiters and block structure. */
function templateProblems(source: string): string[] {
  const scan = scanTemplate(source);
  return [...scan.errors, ...matchBlocks(scan.actions).errors];
}

/** The text of `{{ define "name" }}` … `{{ end }}` in a template. */
function defineBody(source: string, name: string): string {
  const { actions } = scanTemplate(source);
  const { ends } = matchBlocks(actions);
  const index = actions.findIndex((a) => a.text === `define ${JSON.stringify(name)}`);
  assert.notEqual(index, -1, `define ${name} exists`);
  const end = ends.get(index) ?? -1;
  assert.notEqual(end, -1, `define ${name} has an end`);
  const [opening, closing] = [actions[index], actions[end]];
  assert.ok(opening !== undefined && closing !== undefined);
  return source.slice(opening.end, closing.start);
}

/** `.Values.a.b` and `$.Values.a.b`, not part of a longer name such as `.Chart.Values`. */
const VALUES_PATH = /(?<![\w)\]$.])\$?\.Values((?:\.[A-Za-z_]\w*)+)/g;
/** `$name := .Values.a.b` (or `=`): a variable standing for a values path. */
const VALUES_ALIAS = /^\$(\w+)\s*:?=\s*\$?\.Values((?:\.[A-Za-z_]\w*)+)$/;
const VARIABLE_PATH = /\$(\w+)((?:\.[A-Za-z_]\w*)+)/g;

/**
 * The values paths a template reads, e.g. `image.tag`: direct references, and
 * fields of variables assigned from a values path (`$http.port` after
 * `$http := .Values.config.http`).
 */
function valuesPaths(source: string): string[] {
  const aliases = new Map<string, string>();
  const paths: string[] = [];
  for (const { text } of scanTemplate(source).actions) {
    const [, variable, aliased] = VALUES_ALIAS.exec(text) ?? [];
    if (variable !== undefined && aliased !== undefined) aliases.set(variable, aliased);
    for (const [, path = ""] of text.matchAll(VALUES_PATH)) paths.push(path.slice(1));
    for (const [, variable = "", fields = ""] of text.matchAll(VARIABLE_PATH)) {
      const base = aliases.get(variable);
      if (base !== undefined) paths.push(`${base}${fields}`.slice(1));
    }
  }
  return [...new Set(paths)];
}

function hasPath(values: Values, path: string): boolean {
  let node: unknown = values;
  for (const key of path.split(".")) {
    if (!isMap(node) || !Object.hasOwn(node, key)) return false;
    node = node[key];
  }
  return true;
}

/** Paths a template reads that values.yaml does not have. */
function missingValuesPaths(source: string, values: Values): string[] {
  return valuesPaths(source).filter((path) => !hasPath(values, path));
}

/**
 * Settings of values.yaml without a helm-docs `# --` comment: every leaf must
 * have one directly above it (continuation lines allowed) or on an ancestor,
 * which then documents the whole object (as for `config`).
 */
function undocumentedKeys(text: string): string[] {
  const lines = text.split("\n");
  const key = /^(\s*)([A-Za-z_][\w.-]*|"[^"]+"):(.*)$/;
  const indent = (line: string) => line.length - line.trimStart().length;
  const documentedAbove = (index: number) => {
    for (const above of lines.slice(0, index).reverse()) {
      const comment = above.trim();
      if (!comment.startsWith("#")) return false;
      if (comment.startsWith("# --")) return true;
    }
    return false;
  };
  const stack: { indent: number; name: string; documented: boolean }[] = [];
  const missing: string[] = [];
  lines.forEach((line, index) => {
    const match = key.exec(line);
    if (!match) return;
    const [, spaces = "", keyName = "", rest = ""] = match;
    const depth = spaces.length;
    while (stack.length > 0 && stack.at(-1)!.indent >= depth) stack.pop();
    const documented = documentedAbove(index) || stack.some((k) => k.documented);
    const inline = rest.replace(/\s#.*$/, "").trim();
    const following = lines.slice(index + 1).find((l) => l.trim() && !l.trim().startsWith("#"));
    const isParent = inline === "" && following !== undefined && indent(following) > depth &&
      !following.trim().startsWith("-");
    const name = [...stack.map((k) => k.name), keyName].join(".");
    if (!isParent && !documented) missing.push(name);
    stack.push({ indent: depth, name: keyName, documented });
  });
  return missing;
}

/** Mosquitto directives of a configuration, without comments and template lines. */
function mosquittoDirectives(conf: string): string[] {
  return conf.split("\n").map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#") && !line.includes("{{"));
}

/** Every string in a configuration with `${VAR}` references replaced, as the bridge does. */
function interpolateAll(value: unknown, env: (name: string) => string | undefined): unknown {
  if (typeof value === "string") {
    const result = interpolate(value, env);
    assert.ok(result.ok, result.ok ? "" : result.error);
    return result.value;
  }
  if (Array.isArray(value)) return value.map((item) => interpolateAll(item, env));
  if (isMap(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolateAll(item, env)]),
    );
  }
  return value;
}

const DEFAULTS = readYaml("values.yaml");
const EXAMPLES = filesIn("examples").filter((name) => name.endsWith(".yaml"));
const TEMPLATES = filesIn("templates");

Deno.test("values.schema.json compiles in strict mode and accepts the default values", () => {
  const errors = schemaErrors(DEFAULTS);
  assert.deepEqual(errors, [], describeErrors(errors));
});

Deno.test("the documented examples are there", () => {
  for (
    const name of [
      "home-assistant.yaml",
      "existing-secret.yaml",
      "mosquitto.yaml",
      "no-outbox.yaml",
      "cluster.yaml",
    ]
  ) {
    assert.ok(EXAMPLES.includes(name), `examples/${name}`);
  }
});

for (const name of EXAMPLES) {
  Deno.test(`values.schema.json accepts examples/${name} merged over the defaults`, () => {
    const errors = schemaErrors(coalesce(DEFAULTS, readYaml(`examples/${name}`)));
    assert.deepEqual(errors, [], describeErrors(errors));
  });
}

/** A broken override and the one reason the schema must give for refusing it. */
interface BrokenValues {
  readonly name: string;
  readonly values: Values;
  readonly path: string;
  readonly keyword: string;
  readonly params?: Record<string, unknown>;
}

const BROKEN: readonly BrokenValues[] = [
  {
    name: "a service type Kubernetes does not have",
    values: { service: { type: "Foo" } },
    path: "/service/type",
    keyword: "enum",
  },
  {
    name: "an unknown top-level key (replicas are fixed at one writer)",
    values: { replicaCount: 2 },
    path: "",
    keyword: "additionalProperties",
    params: { additionalProperty: "replicaCount" },
  },
  {
    name: "a misspelt key in one of the chart's own objects",
    values: { persistence: { storageClassName: "fast" } },
    path: "/persistence",
    keyword: "additionalProperties",
    params: { additionalProperty: "storageClassName" },
  },
  {
    name: "a persistence size that is a number, not a quantity string",
    values: { persistence: { size: 1 } },
    path: "/persistence/size",
    keyword: "type",
  },
  {
    name: "a persistence size that is no quantity",
    values: { persistence: { size: "1 GB" } },
    path: "/persistence/size",
    keyword: "pattern",
  },
  {
    name: "a seconds-level upload interval meters refuse",
    values: { config: { meters: { upload_interval_seconds: 45 } } },
    path: "/config/meters/upload_interval_seconds",
    keyword: "enum",
  },
  {
    name: "a minutes-level upload interval meters refuse, in a per-meter override",
    values: {
      config: { meters: { overrides: { "33B1225950027": { upload_interval_minutes: 2 } } } },
    },
    path: "/config/meters/overrides/33B1225950027/upload_interval_minutes",
    keyword: "enum",
  },
  {
    name: "a misspelt key of the bridge's configuration",
    values: { config: { meters: { timezon: "Europe/Vienna" } } },
    path: "/config/meters",
    keyword: "additionalProperties",
    params: { additionalProperty: "timezon" },
  },
  {
    name: "a configuration key the bridge does not have",
    values: { config: { colour: "blue" } },
    path: "/config",
    keyword: "additionalProperties",
    params: { additionalProperty: "colour" },
  },
  {
    name: "a log level the bridge does not have",
    values: { config: { logging: { level: "loud" } } },
    path: "/config/logging/level",
    keyword: "enum",
  },
  {
    name: "ServiceMonitor credentials without a key",
    values: { serviceMonitor: { authorization: { credentials: { name: "kpm33b" } } } },
    path: "/serviceMonitor/authorization/credentials",
    keyword: "required",
  },
  {
    name: "a central broker URL that is not MQTT",
    values: { config: { central_broker: { url: "http://x" } } },
    path: "/config/central_broker/url",
    keyword: "pattern",
  },
  {
    name: "resources that are not an object",
    values: { resources: "500m" },
    path: "/resources",
    keyword: "type",
  },
  {
    name: "an HTTP endpoint on loopback, where probes cannot reach it",
    values: { config: { http: { host: "127.0.0.1" } } },
    path: "/config/http/host",
    keyword: "not",
  },
  {
    name: "a state directory that is no absolute path for the volume mount",
    values: { config: { state_dir: "${KPM33B_STATE_DIR:-/var/lib/kpm33b}" } },
    path: "/config/state_dir",
    keyword: "pattern",
  },
  {
    name: "a node port outside the node port range",
    values: { service: { nodePort: 1883 } },
    path: "/service/nodePort",
    keyword: "minimum",
  },
  {
    name: "a cluster without data replicas",
    values: { cluster: { replicas: 0 } },
    path: "/cluster/replicas",
    keyword: "minimum",
  },
  {
    name: "a share group that is no topic level",
    values: { cluster: { shareGroup: "a/b" } },
    path: "/cluster/shareGroup",
    keyword: "pattern",
  },
  {
    name: "an extra Secret variable that collides with a password key",
    values: { secret: { extra: { KPM33B_METER_PASSWORD: "x" } } },
    path: "/secret/extra",
    keyword: "propertyNames",
  },
];

for (const broken of BROKEN) {
  Deno.test(`values.schema.json rejects ${broken.name}`, () => {
    const errors = schemaErrors(coalesce(DEFAULTS, broken.values));
    const reason = errors.find((e) =>
      e.instancePath === broken.path && e.keyword === broken.keyword &&
      Object.entries(broken.params ?? {}).every(([k, v]) => e.params[k] === v)
    );
    assert.ok(
      reason,
      `expected ${broken.keyword} at ${broken.path}, got:\n${describeErrors(errors)}`,
    );
    // Nothing else is wrong: the defaults around the broken value stay valid.
    const elsewhere = errors.filter((e) => !e.instancePath.startsWith(broken.path));
    assert.deepEqual(elsewhere, [], describeErrors(elsewhere));
  });
}

Deno.test("the chart has every template it promises", () => {
  for (
    const name of [
      "_helpers.tpl",
      "deployment.yaml",
      "statefulset.yaml",
      "configmap.yaml",
      "secret.yaml",
      "pvc.yaml",
      "service.yaml",
      "service-http.yaml",
      "networkpolicy.yaml",
      "pdb.yaml",
      "servicemonitor.yaml",
      "NOTES.txt",
    ]
  ) {
    assert.ok(TEMPLATES.includes(name), `templates/${name}`);
  }
});

for (const name of TEMPLATES) {
  Deno.test(`templates/${name} has balanced actions and blocks`, () => {
    const source = readChartFile(`templates/${name}`);
    assert.ok(scanTemplate(source).actions.length > 0, "the template has actions at all");
    assert.deepEqual(templateProblems(source), []);
  });
}

Deno.test("every .Values path the templates read exists in values.yaml", () => {
  const missing = TEMPLATES.flatMap((name) =>
    missingValuesPaths(readChartFile(`templates/${name}`), DEFAULTS).map((p) => `${name}: ${p}`)
  );
  assert.deepEqual(missing, []);
  // The check saw the templates' references, not an empty list.
  assert.ok(valuesPaths(readChartFile("templates/deployment.yaml")).includes("config.state_dir"));
});

Deno.test("the template checker finds unbalanced and misplaced actions", () => {
  const problems = (source: string) => templateProblems(source).join("\n");
  assert.match(problems("{{ if .a }}text"), /line 1: if without end/);
  assert.match(problems("{{ range .a }}{{ with .b }}{{ end }}"), /range without end/);
  assert.match(problems("text\n{{ end }}"), /line 2: end without an open block/);
  assert.match(problems("{{ else }}"), /else outside if, range or with/);
  assert.match(problems('{{ define "x" }}{{ else }}{{ end }}'), /else outside/);
  assert.match(problems("{{ .a \n{{ .b }}"), /line 1: action not closed/);
  assert.match(problems("{{ .a }"), /action not closed/);
  assert.match(problems("{{/* note }}"), /comment not closed/);
  assert.match(problems('{{ "no end }}'), /action not closed/);
});

Deno.test("the template checker accepts what Go templates allow", () => {
  const balanced = [
    "{{- if .a -}}x{{- else if .b }}y{{- else -}}z{{- end -}}",
    "{{ \"}}\" }}{{ `{{ raw }}` }}{{ '}' }}",
    "{{/* {{ if */}}{{- /* } */ -}}",
    '{{ define "a" }}{{ range $k, $v := .m }}{{ with $v }}{{ . }}{{ end }}{{ end }}{{ end }}',
    '{{ block "b" . }}{{ end }}{{ template "b" . }}',
    "jsonpath='{.status.ip}{\"\\n\"}' and } } alone",
  ];
  for (const source of balanced) assert.deepEqual(templateProblems(source), [], source);
  assert.deepEqual(scanTemplate('{{- "a}}b" -}}').actions.map((a) => a.text), ['"a}}b"']);
  assert.deepEqual(scanTemplate("{{/* x */}}").actions, []);
});

Deno.test("the values path check flags paths values.yaml lacks", () => {
  const values = { image: { tag: "" }, config: { http: { port: 8080 } } };
  assert.deepEqual(
    missingValuesPaths("{{ .Values.image.tag }}{{ $.Values.image.tag }}", values),
    [],
  );
  assert.deepEqual(missingValuesPaths("{{ .Values.image.colour }}", values), ["image.colour"]);
  assert.deepEqual(missingValuesPaths("{{ $.Values.replicaCount }}", values), ["replicaCount"]);
  assert.deepEqual(missingValuesPaths("{{ .Values.image.tag.major }}", values), [
    "image.tag.major",
  ]);
  assert.deepEqual(
    missingValuesPaths(
      "{{ $http := .Values.config.http }}{{ $http.port }}{{ $http.hots }}",
      values,
    ),
    ["config.http.hots"],
  );
  // Comments and other objects' fields are not values paths.
  assert.deepEqual(missingValuesPaths("{{/* .Values.nope */}}{{ .Chart.Values.x }}", values), []);
});

Deno.test("values.yaml documents every setting with a # -- comment", () => {
  assert.deepEqual(undocumentedKeys(readChartFile("values.yaml")), []);
  // The check itself: an undocumented leaf is found, a documented parent covers its children.
  assert.deepEqual(undocumentedKeys("# -- a\na: 1\nb:\n  c: 2\n# -- d\nd:\n  e: 3\n"), ["b.c"]);
});

Deno.test("the chart's mosquitto.conf keeps every setting of mosquitto/internal.conf", () => {
  const helpers = readChartFile("templates/_helpers.tpl");
  const chart = mosquittoDirectives(defineBody(helpers, "kpm33b-bridge.mosquittoConf"));
  const shipped = mosquittoDirectives(Deno.readTextFileSync(INTERNAL_CONF));
  // Paths are relative to the repository in the shipped file; the chart's are
  // absolute and point at the pod's volumes.
  const paths = new Set(["plugin_opt_config_file", "persistence_location"]);
  const isPath = (line: string) => paths.has(line.split(/\s+/)[0] ?? "");
  assert.deepEqual(chart.filter((l) => !isPath(l)), shipped.filter((l) => !isPath(l)));
  assert.deepEqual(chart.filter(isPath), [
    "plugin_opt_config_file /mosquitto/auth/dynamic-security.json",
    "persistence_location /mosquitto/data/",
  ]);
  // The bridge and the Services use the listener's port.
  const port = defineBody(helpers, "kpm33b-bridge.mosquittoPort").trim();
  assert.ok(chart.includes(`listener ${port}`), `listener ${port}`);
});

Deno.test("the default and example configurations are valid bridge configurations", () => {
  // Every referenced variable set, as the chart's Secret would set them.
  const env = (name: string) => `value-of-${name}`;
  const shipped: [string, Values][] = [
    ["values.yaml", DEFAULTS],
    ...EXAMPLES.map((e): [string, Values] => [
      `examples/${e}`,
      coalesce(DEFAULTS, readYaml(`examples/${e}`)),
    ]),
  ];
  for (const [name, values] of shipped) {
    // With replicas the chart adds the cluster section ("kpm33b-bridge.config").
    const cluster = values.cluster as Values;
    const config = cluster.enabled
      ? {
        ...values.config as Values,
        cluster: { share_group: cluster.shareGroup, replica: "${KPM33B_REPLICA}" },
      }
      : values.config;
    const result = Config.safeParse(interpolateAll(config, env));
    assert.ok(result.success, `${name}: ${result.error?.message}`);
  }
  assert.ok(shipped.some(([, values]) => (values.cluster as Values).enabled), "a cluster example");
});
