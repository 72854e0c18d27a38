import assert from "node:assert/strict";
import {
  chartSchemaText,
  editorSchemaText,
  SCHEMA_FILES,
  updateSchemaFiles,
} from "../../src/config/schema_files.ts";
import { configJsonSchema } from "../../src/config/json_schema.ts";

const ROOT = new URL("../../", import.meta.url);

Deno.test("the committed schema files are the ones `deno task schema` generates", async () => {
  assert.deepEqual(
    await updateSchemaFiles(ROOT, true),
    [],
    "run `deno task schema` and commit the result",
  );
});

Deno.test("the chart's values schema gets the configuration schema and keeps the rest", () => {
  const current = JSON.stringify({
    $schema: "http://json-schema.org/draft-07/schema#",
    definitions: { bridgeConfig: { type: "object" }, other: { type: "string" } },
    properties: { config: { allOf: [{ $ref: "#/definitions/bridgeConfig" }] } },
  });
  const updated = JSON.parse(chartSchemaText(current));
  const { $schema: _, title: __, ...expected } = configJsonSchema();
  assert.deepEqual(updated.definitions.bridgeConfig, expected);
  assert.deepEqual(updated.definitions.other, { type: "string" });
  assert.deepEqual(updated.properties, JSON.parse(current).properties);
});

Deno.test("a stale schema file is reported, and rewritten unless only checked", async () => {
  const root = new URL(`file://${await Deno.makeTempDir({ prefix: "kpm33b-schema-" })}/`);
  try {
    await Deno.mkdir(new URL("docs/", root));
    await Deno.mkdir(new URL("deploy/helm/kpm33b-bridge/", root), { recursive: true });
    await Deno.writeTextFile(new URL(SCHEMA_FILES.chart, root), '{"definitions":{}}');
    assert.deepEqual(await updateSchemaFiles(root, true), [
      SCHEMA_FILES.editor,
      SCHEMA_FILES.chart,
    ]);
    assert.deepEqual(await updateSchemaFiles(root, false), [
      SCHEMA_FILES.editor,
      SCHEMA_FILES.chart,
    ]);
    assert.equal(await Deno.readTextFile(new URL(SCHEMA_FILES.editor, root)), editorSchemaText());
    assert.deepEqual(await updateSchemaFiles(root, true), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("config.yaml names the editor schema on its first line", () => {
  const first = Deno.readTextFileSync(new URL("config.yaml", ROOT)).split("\n")[0];
  assert.equal(first, `# yaml-language-server: $schema=${SCHEMA_FILES.editor}`);
});
