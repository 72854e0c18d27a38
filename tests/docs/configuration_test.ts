/**
 * docs/configuration.md's key table against the configuration schema
 * (src/config/schema.ts, through its JSON Schema): every key the bridge
 * accepts is documented, and every documented key exists.
 *
 * A row's key cell holds one or more keys in backticks; `.password` after
 * `internal_broker.username` is its sibling. A key that names a section
 * (`internal_broker.tls.*`, `meters.overrides.<id>`) documents the keys below
 * it that its meaning names in backticks.
 */
import assert from "node:assert/strict";
import { configJsonSchema, type JsonSchema } from "../../src/config/json_schema.ts";

const DOC = new URL("../../docs/configuration.md", import.meta.url);

/** Every leaf key of the schema, `<id>` standing for a map's keys. */
function schemaLeaves(schema: JsonSchema, path: string[] = []): string[][] {
  const properties = schema.properties as Record<string, JsonSchema> | undefined;
  if (properties !== undefined) {
    return Object.entries(properties).flatMap(([key, value]) =>
      schemaLeaves(value, [...path, key])
    );
  }
  const entries = schema.additionalProperties;
  if (typeof entries === "object" && entries !== null && isSection(entries as JsonSchema)) {
    return schemaLeaves(entries as JsonSchema, [...path, "<id>"]);
  }
  // A section also takes a `${VAR}` string: its alternatives with keys are the section.
  const sections = ["anyOf", "oneOf"].flatMap((keyword) =>
    (schema[keyword] as JsonSchema[] | undefined) ?? []
  ).filter(isSection);
  if (sections.length > 0) return sections.flatMap((section) => schemaLeaves(section, path));
  return [path];
}

function isSection(schema: JsonSchema): boolean {
  const entries = schema.additionalProperties;
  return schema.properties !== undefined ||
    (typeof entries === "object" && entries !== null && isSection(entries as JsonSchema)) ||
    ["anyOf", "oneOf"].some((keyword) =>
      ((schema[keyword] as JsonSchema[] | undefined) ?? []).some(isSection)
    );
}

interface Row {
  readonly line: number;
  readonly keys: string[][];
  /** Words in backticks in the meaning column. */
  readonly named: Set<string>;
}

/** The rows of the table under "### Keys". */
function tableRows(markdown: string): Row[] {
  const lines = markdown.split("\n");
  const start = lines.indexOf("### Keys");
  assert.ok(start >= 0, 'docs/configuration.md has no "### Keys" section');
  const rows: Row[] = [];
  for (const [i, line] of lines.entries()) {
    if (i <= start) continue;
    if (line.startsWith("#")) break;
    if (!line.startsWith("| `")) continue;
    const [, keyCell = "", , meaning = ""] = line.split("|").map((cell) => cell.trim());
    const keys: string[][] = [];
    for (const [, key = ""] of keyCell.matchAll(/`([^`]+)`/g)) {
      const segments = key.replace(/\.\*$/, "").split(".");
      // `.name` continues the first key of the row: its last segment is replaced.
      const [first = []] = keys;
      keys.push(key.startsWith(".") ? [...first.slice(0, -1), ...segments.slice(1)] : segments);
    }
    const named = new Set([...meaning.matchAll(/`([^`]+)`/g)].map(([, word = ""]) => word));
    rows.push({ line: i + 1, keys, named });
  }
  return rows;
}

const startsWith = (path: string[], prefix: string[]) =>
  prefix.length <= path.length && prefix.every((segment, i) => path[i] === segment);

const rows = tableRows(await Deno.readTextFile(DOC));
const leaves = schemaLeaves(configJsonSchema());

Deno.test("docs/configuration.md: the key table is read and the schema has keys", () => {
  assert.ok(rows.length > 50, `only ${rows.length} rows read`);
  assert.ok(leaves.length > 50, `only ${leaves.length} schema keys found`);
});

Deno.test("docs/configuration.md: every key of the configuration schema is in the table", () => {
  const missing = leaves.filter((leaf) =>
    !rows.some((row) =>
      row.keys.some((key) =>
        key.join(".") === leaf.join(".") ||
        (startsWith(leaf, key) && leaf.length > key.length && row.named.has(leaf.at(-1)!))
      )
    )
  ).map((leaf) => leaf.join("."));
  assert.deepEqual(missing, [], "keys of src/config/schema.ts missing in docs/configuration.md");
});

Deno.test("docs/configuration.md: every key in the table exists in the configuration schema", () => {
  const unknown = rows.flatMap((row) =>
    row.keys.filter((key) => !leaves.some((leaf) => startsWith(leaf, key)))
      .map((key) => `line ${row.line}: ${key.join(".")}`)
  );
  assert.deepEqual(unknown, [], "keys in docs/configuration.md that src/config/schema.ts lacks");
});
