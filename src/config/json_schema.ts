/**
 * The configuration schema as JSON Schema (draft 7), made from the zod schema
 * in `schema.ts`: for editors (`docs/config.schema.json`) and for the Helm
 * chart's `values.schema.json`, so that a misspelt key or an impossible value
 * is refused before the bridge starts. It describes the file as written:
 * every value may still be an unresolved `${VAR}` reference, and numbers and
 * booleans may be strings as the bridge accepts them.
 *
 * @module
 */
import { z } from "zod";
import { BROKER_SCHEMES, BrokerUrl, Config, MeterTimeZone } from "./schema.ts";
import {
  MINUTES_LEVEL_INTERVALS,
  MinutesLevelInterval,
  SECONDS_LEVEL_INTERVALS,
  SecondsLevelInterval,
} from "../protocol/upload_interval.ts";

/** A JSON Schema object. */
export type JsonSchema = { [keyword: string]: unknown };

/** A string holding a `${VAR}` reference, resolved only when the bridge loads the file. */
const ENV_REFERENCE: JsonSchema = { type: "string", pattern: "\\$\\{" };

/** Leaves whose constraints zod can only express as refinements, written out. */
function refinedLeaf(schema: unknown): JsonSchema | undefined {
  if (schema === SecondsLevelInterval) return { enum: [...SECONDS_LEVEL_INTERVALS] };
  if (schema === MinutesLevelInterval) return { enum: [...MINUTES_LEVEL_INTERVALS] };
  if (schema === BrokerUrl) {
    const schemes = BROKER_SCHEMES.map((scheme) => scheme.slice(0, -1)).join("|");
    return { type: "string", pattern: `^(${schemes})://[^/]` };
  }
  return undefined;
}

function isObject(value: unknown): value is JsonSchema {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** What else the bridge accepts for a leaf: `${VAR}`, and numbers or booleans as strings. */
function alternatives(leaf: JsonSchema): JsonSchema[] {
  const accepted = [ENV_REFERENCE];
  if (Array.isArray(leaf.enum) && leaf.enum.every((value) => typeof value === "number")) {
    accepted.push({ enum: leaf.enum.map(String) });
  } else if (leaf.type === "integer" || leaf.type === "number") {
    accepted.push({ type: "string", pattern: "^\\d+$" });
  }
  if (leaf.type === "boolean") accepted.push({ enum: ["true", "false"] });
  return accepted;
}

/** Whether a leaf already takes every string. */
function takesAnyString(leaf: JsonSchema): boolean {
  return Object.keys(leaf).every((key) => ["type", "default"].includes(key)) &&
    leaf.type === "string";
}

/**
 * Lets every value (not the keys) of objects and arrays be what the loader
 * turns into a valid one: the schema sees the file before interpolation.
 */
function acceptWritten(schema: JsonSchema): JsonSchema {
  if (schema.type === "object") {
    const result: JsonSchema = { ...schema };
    if (isObject(schema.properties)) {
      result.properties = Object.fromEntries(
        Object.entries(schema.properties).map(([key, value]) => [
          key,
          acceptWritten(value as JsonSchema),
        ]),
      );
    }
    if (isObject(schema.additionalProperties)) {
      result.additionalProperties = acceptWritten(schema.additionalProperties);
    }
    return result;
  }
  if (schema.type === "array") {
    return isObject(schema.items) ? { ...schema, items: acceptWritten(schema.items) } : schema;
  }
  if (takesAnyString(schema)) return schema;
  const { default: fallback, ...leaf } = schema;
  return {
    ...(fallback === undefined ? {} : { default: fallback }),
    anyOf: [leaf, ...alternatives(leaf)],
  };
}

/**
 * The JSON Schema (draft 7) of `config.yaml` as written: keys and structure as
 * the bridge validates them, defaults shown, cross-field rules (such as a
 * replica name with a share group) left to the bridge.
 */
export function configJsonSchema(): JsonSchema {
  const generated = z.toJSONSchema(Config, {
    target: "draft-7",
    // The file's side of the schema: keys with defaults are optional.
    io: "input",
    override: ({ zodSchema, jsonSchema }) => {
      if (zodSchema === MeterTimeZone) {
        // Whatever zone generated the file is no one else's default.
        delete (jsonSchema as JsonSchema).default;
        jsonSchema.description = "IANA time zone; default: this machine's (TZ, /etc/localtime)";
        return;
      }
      const leaf = refinedLeaf(zodSchema);
      if (leaf === undefined) return;
      const fallback = jsonSchema.default;
      for (const key of Object.keys(jsonSchema)) delete (jsonSchema as JsonSchema)[key];
      Object.assign(jsonSchema, fallback === undefined ? {} : { default: fallback }, leaf);
    },
  }) as JsonSchema;
  const { $schema, ...schema } = generated;
  return {
    $schema,
    title: "kpm33b-bridge configuration (config.yaml)",
    description: "Every key of the bridge's config.yaml (docs/configuration.md). " +
      "Values may reference the environment with ${VAR} or ${VAR:-default}.",
    ...acceptWritten(schema),
  };
}
