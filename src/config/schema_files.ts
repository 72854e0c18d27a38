/**
 * Writes the configuration's JSON Schema where it is used: the editor schema
 * `docs/config.schema.json` (referenced from config.yaml's first line), and
 * the `bridgeConfig` definition of the Helm chart's `values.schema.json`,
 * which validates the chart's `config` values. `deno task schema` runs it;
 * `--check` only reports whether the files are current.
 *
 * @module
 */
import { configJsonSchema } from "./json_schema.ts";

/** The files holding the schema, relative to the repository root. */
export const SCHEMA_FILES = {
  editor: "docs/config.schema.json",
  chart: "deploy/helm/kpm33b-bridge/values.schema.json",
} as const;

function format(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** The editor schema file's text. */
export function editorSchemaText(): string {
  return format(configJsonSchema());
}

/**
 * The chart's values schema with its `definitions.bridgeConfig` replaced by
 * the current configuration schema; everything else is kept as written.
 */
export function chartSchemaText(current: string): string {
  const values = JSON.parse(current);
  const { $schema: _, title: __, ...bridgeConfig } = configJsonSchema();
  values.definitions = { ...values.definitions, bridgeConfig };
  return format(values);
}

/**
 * The schema files (relative to `root`) whose text differs from the generated
 * one; unless `check`, they are rewritten.
 */
export async function updateSchemaFiles(root: URL, check: boolean): Promise<string[]> {
  const stale: string[] = [];
  const chartPath = new URL(SCHEMA_FILES.chart, root);
  const editorText = await Deno.readTextFile(new URL(SCHEMA_FILES.editor, root)).catch(
    (error) => {
      if (error instanceof Deno.errors.NotFound) return "";
      throw error;
    },
  );
  const chartText = await Deno.readTextFile(chartPath);
  const current: Record<string, string> = {
    [SCHEMA_FILES.editor]: editorText,
    [SCHEMA_FILES.chart]: chartText,
  };
  const wanted: Record<string, string> = {
    [SCHEMA_FILES.editor]: editorSchemaText(),
    [SCHEMA_FILES.chart]: chartSchemaText(chartText),
  };
  for (const [path, text] of Object.entries(wanted)) {
    if (current[path] === text) continue;
    stale.push(path);
    if (!check) await Deno.writeTextFile(new URL(path, root), text);
  }
  return stale;
}

if (import.meta.main) {
  const check = Deno.args.includes("--check");
  const stale = await updateSchemaFiles(new URL("../../", import.meta.url), check);
  for (const path of stale) console.log(check ? `${path} is out of date` : `wrote ${path}`);
  if (check && stale.length > 0) {
    console.log("run `deno task schema` to regenerate it from src/config/schema.ts");
    Deno.exit(1);
  }
}
