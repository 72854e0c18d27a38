/**
 * The folders of src/ import downwards only: each folder has a layer
 * (docs/architecture.md#layers), imports reach the same or a lower layer, and
 * no folders import each other in a circle. The import graph is Deno's own
 * (`deno info --json` over every module of src/ and main.ts), plus the worker
 * modules a file starts by URL.
 *
 * @module
 */
import assert from "node:assert/strict";
import { relative } from "node:path";
import { fileURLToPath as fromFileUrl, pathToFileURL as toFileUrl } from "node:url";

const ROOT = fromFileUrl(new URL("../", import.meta.url));

/**
 * The layers, lowest first. `main.ts` and the files directly in src/ are the
 * entry points, in the top layer with the other programs.
 */
const LAYERS: readonly (readonly string[])[] = [
  ["runtime"],
  ["protocol"],
  ["config"],
  ["logging", "mqtt", "outbox", "status"],
  ["worker", "cluster"],
  ["broker", "proxy", "config_sender", "http"],
  ["supervisor"],
  ["entry", "addon", "simulator", "dev"],
];

const LAYER_OF = new Map(LAYERS.flatMap((folders, layer) => folders.map((f) => [f, layer])));

/** One import between two modules of the repository, as paths relative to its root. */
interface Edge {
  readonly from: string;
  readonly to: string;
}

/** The folder a module belongs to: its folder under src/, or `entry` for main.ts and src/*.ts. */
function folderOf(path: string): string | undefined {
  if (path === "main.ts") return "entry";
  const parts = path.split("/");
  if (parts[0] !== "src") return undefined;
  return parts.length === 2 ? "entry" : parts[1];
}

async function sourceFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await sourceFiles(path));
    else if (entry.name.endsWith(".ts")) files.push(path);
  }
  return files;
}

interface InfoModule {
  readonly specifier: string;
  readonly dependencies?: readonly {
    readonly code?: { readonly specifier?: string };
    readonly type?: { readonly specifier?: string };
  }[];
}

/** Every import (value and type) between modules of the repository, from `deno info --json`. */
async function importEdges(files: readonly string[]): Promise<Edge[]> {
  const dir = await Deno.makeTempDir();
  try {
    const all = `${dir}/all.ts`;
    await Deno.writeTextFile(
      all,
      files.map((file) => `import "${toFileUrl(`${ROOT}${file}`).href}";\n`).join(""),
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", `${ROOT}deno.json`, all],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(output.success, new TextDecoder().decode(output.stderr));
    const info: { modules: InfoModule[] } = JSON.parse(new TextDecoder().decode(output.stdout));
    const inRepo = (specifier: string | undefined) =>
      specifier?.startsWith("file://") && !specifier.startsWith(toFileUrl(dir).href)
        ? relative(ROOT, fromFileUrl(specifier))
        : undefined;
    return info.modules.flatMap((module) => {
      const from = inRepo(module.specifier);
      if (from === undefined) return [];
      return (module.dependencies ?? []).flatMap((dependency) =>
        [dependency.code?.specifier, dependency.type?.specifier]
          .map(inRepo)
          .filter((to): to is string => to !== undefined)
          .map((to) => ({ from, to }))
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Modules started as workers: `new URL("…/worker.ts", import.meta.url)`, unseen by `deno info`. */
async function workerEdges(files: readonly string[]): Promise<Edge[]> {
  const edges: Edge[] = [];
  for (const from of files) {
    const text = await Deno.readTextFile(`${ROOT}${from}`);
    for (
      const [, path = ""] of text.matchAll(/new URL\(\s*"(\.[^"]+\.ts)",\s*import\.meta\.url\s*\)/g)
    ) {
      const target = new URL(path, toFileUrl(`${ROOT}${from}`));
      edges.push({ from, to: relative(ROOT, fromFileUrl(target)) });
    }
  }
  return edges;
}

/** Imports between different folders of src/ (and main.ts), with their folders. */
async function folderEdges(): Promise<(Edge & { fromFolder: string; toFolder: string })[]> {
  const files = ["main.ts", ...await sourceFiles("src")].sort();
  const edges = [...await importEdges(files), ...await workerEdges(files)];
  const seen = new Set<string>();
  return edges.flatMap((edge) => {
    const fromFolder = folderOf(edge.from);
    const toFolder = folderOf(edge.to);
    const key = `${edge.from} -> ${edge.to}`;
    if (fromFolder === undefined || toFolder === undefined || fromFolder === toFolder) return [];
    if (seen.has(key)) return [];
    seen.add(key);
    return [{ ...edge, fromFolder, toFolder }];
  });
}

const edges = await folderEdges();
const show = (list: readonly Edge[]) => list.map((e) => `  ${e.from} -> ${e.to}`).join("\n");

Deno.test("every folder of src/ has a layer", async () => {
  const folders = new Set((await sourceFiles("src")).map(folderOf));
  const missing = [...folders].filter((folder) => !LAYER_OF.has(folder!));
  assert.deepEqual(
    missing,
    [],
    `Folders without a layer: ${missing.join(", ")}. Add each to LAYERS in ` +
      "tests/architecture_test.ts and to docs/architecture.md#layers",
  );
});

Deno.test("docs/architecture.md#layers lists the same layers", async () => {
  const text = await Deno.readTextFile(new URL("../docs/architecture.md", import.meta.url));
  const documented: string[][] = [];
  for (const [, layer, folders = ""] of text.matchAll(/^\| (\d+) +\| ([^|]+)\|/gm)) {
    const names = [...folders.matchAll(/`([^`]+)`/g)].map(([, name = ""]) =>
      name === "main.ts" || name === "src/*.ts" ? "entry" : name
    );
    documented[Number(layer)] = [...new Set(names)];
  }
  assert.deepEqual(documented, LAYERS.map((folders) => [...folders]));
});

Deno.test("the pure core imports no other folder: runtime nothing, protocol only runtime", () => {
  const allowed: Readonly<Record<string, readonly string[]>> = {
    runtime: [],
    protocol: ["runtime"],
  };
  const offending = edges.filter((edge) =>
    allowed[edge.fromFolder]?.includes(edge.toFolder) === false
  );
  assert.equal(
    offending.length,
    0,
    `The pure core imports from folders above it; pass what it needs as a parameter or move ` +
      `the type into the core:\n${show(offending)}`,
  );
});

Deno.test("folders import from the same or a lower layer", () => {
  const offending = edges.filter((edge) =>
    (LAYER_OF.get(edge.toFolder) ?? -1) > (LAYER_OF.get(edge.fromFolder) ?? Infinity)
  );
  assert.equal(
    offending.length,
    0,
    `Imports from a higher layer (order in docs/architecture.md#layers); move the imported ` +
      `code down or pass it as a parameter:\n${show(offending)}`,
  );
});

Deno.test("no folders import each other in a circle", () => {
  const next = new Map<string, Set<string>>();
  for (const edge of edges) {
    if (!next.has(edge.fromFolder)) next.set(edge.fromFolder, new Set());
    next.get(edge.fromFolder)!.add(edge.toFolder);
  }
  /** The shortest chain of folders from `start` to `goal`, if imports lead there. */
  const path = (start: string, goal: string): string[] | undefined => {
    const previous = new Map<string, string>([[start, start]]);
    const queue = [start];
    for (let folder = queue.shift(); folder !== undefined; folder = queue.shift()) {
      if (folder === goal) {
        const chain = [goal];
        for (let at = goal; at !== start; chain.unshift(at)) at = previous.get(at)!;
        return chain;
      }
      for (const to of next.get(folder) ?? []) {
        if (!previous.has(to)) {
          previous.set(to, folder);
          queue.push(to);
        }
      }
    }
    return undefined;
  };
  // Each import between two folders whose target leads back to its source closes a circle;
  // circles are told apart by their folders, starting from the first in name order.
  const circles = new Map<string, string[]>();
  for (const [from, targets] of next) {
    for (const to of targets) {
      const back = path(to, from);
      if (back === undefined) continue;
      const circle = [from, ...back.slice(0, -1)];
      const [lowest = from] = [...circle].sort();
      const first = circle.indexOf(lowest);
      const rotated = [...circle.slice(first), ...circle.slice(0, first)];
      circles.set(rotated.join(" -> "), rotated);
    }
  }
  const report = [...circles.values()].sort((a, b) => a.length - b.length).map((circle) => {
    const steps = circle.map((from, i) => {
      const to = circle[(i + 1) % circle.length];
      return show(edges.filter((e) => e.fromFolder === from && e.toFolder === to));
    });
    return `${[...circle, circle[0]].join(" -> ")}:\n${steps.join("\n")}`;
  });
  assert.equal(
    report.length,
    0,
    `Folders import each other in a circle:\n${report.join("\n")}`,
  );
});
