/**
 * The delivery benchmark's stored figures (`bench/figures.json`): the last
 * accepted value of each figure, how much worse a new run may be before it is
 * flagged, and the date and machine they were taken on.
 *
 * @module
 */
import { z } from "zod";

/** Where the accepted figures are kept, next to the benchmark. */
export const FIGURES_FILE = new URL("./figures.json", import.meta.url);

const Figure = z.object({
  label: z.string(),
  unit: z.string(),
  value: z.number(),
  /** The direction in which the figure gets worse. */
  worse_when: z.enum(["lower", "higher"]),
  /** How much worse than `value`, in percent of it, a run may be before it is flagged. */
  tolerance_percent: z.number().positive(),
});

const Machine = z.object({ cores: z.number().int().positive(), cpu: z.string() });

const StoredFigures = z.object({
  date: z.string(),
  machine: Machine,
  conditions: z.string().optional(),
  figures: z.record(z.string(), Figure),
});

/** One stored figure. */
export type Figure = z.infer<typeof Figure>;
/** A figure as the benchmark defines it: all but the value; the tolerance is the default. */
export type Definition = Omit<Figure, "value">;
/** The cores and CPU model the figures were taken on. */
export type Machine = z.infer<typeof Machine>;
/** The content of `bench/figures.json`. */
export type StoredFigures = z.infer<typeof StoredFigures>;

/**
 * This machine: its cores and the CPU model named in /proc/cpuinfo (read with
 * `cat`: Deno lets only `--allow-all` read it).
 */
export async function thisMachine(): Promise<Machine> {
  const { code, stdout } = await new Deno.Command("cat", {
    args: ["/proc/cpuinfo"],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (code !== 0) throw new Error("cannot read /proc/cpuinfo: the benchmark needs Linux");
  const cpuinfo = new TextDecoder().decode(stdout);
  // Some CPUs (e.g. many ARM boards) name no `model name`, only a `Hardware` or `CPU part`.
  const cpu = cpuinfo.match(/^(?:model name|Hardware|CPU part)\s*:\s*(.+)$/m)?.[1]?.trim();
  return { cores: navigator.hardwareConcurrency, cpu: cpu ?? "not named in /proc/cpuinfo" };
}

/** The stored figures, or undefined when none were saved yet. */
export async function loadFigures(file = FIGURES_FILE): Promise<StoredFigures | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const parsed = StoredFigures.safeParse(JSON.parse(text));
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new Error(
      `${file.pathname} is not valid (${issues.join("; ")}): fix it, ` +
        "or delete it and run the benchmark with --save to store this run's figures",
    );
  }
  return parsed.data;
}

/** Writes `current` as the accepted figures, keeping the tolerances already stored. */
export async function saveFigures(
  definitions: Readonly<Record<string, Definition>>,
  current: Readonly<Record<string, number>>,
  previous: StoredFigures | undefined,
  conditions: string | undefined,
  file = FIGURES_FILE,
): Promise<void> {
  const missing = Object.keys(definitions).filter((key) => !Number.isFinite(current[key]));
  if (missing.length > 0) {
    throw new Error(
      `figures not saved: no value for ${missing.join(", ")}; ` +
        "run the benchmark again until every figure is measured",
    );
  }
  const figures = Object.fromEntries(
    Object.entries(definitions).map(([key, definition]) => [key, {
      ...definition,
      value: Number(current[key]!.toPrecision(4)),
      tolerance_percent: previous?.figures[key]?.tolerance_percent ??
        definition.tolerance_percent,
    }]),
  );
  const stored: StoredFigures = {
    date: new Date().toISOString().slice(0, 10),
    machine: await thisMachine(),
    ...(conditions ? { conditions } : {}),
    figures,
  };
  await Deno.writeTextFile(file, `${JSON.stringify(stored, null, 2)}\n`);
}

/** A figure of this run next to its stored value. */
export interface Comparison {
  readonly key: string;
  readonly label: string;
  readonly unit: string;
  readonly current: number;
  readonly stored: number | undefined;
  readonly tolerancePercent: number;
  /** How much worse than stored, in percent of it (negative: better); NaN without both values. */
  readonly worsePercent: number;
  /** Worse than stored by more than the tolerance, or not measured in this run. */
  readonly flagged: boolean;
}

/** Compares every defined figure of this run with the stored one. */
export function compare(
  definitions: Readonly<Record<string, Definition>>,
  current: Readonly<Record<string, number>>,
  stored: StoredFigures | undefined,
): Comparison[] {
  return Object.entries(definitions).map(([key, definition]) => {
    const value = current[key] ?? NaN;
    const accepted = stored?.figures[key];
    const tolerancePercent = accepted?.tolerance_percent ?? definition.tolerance_percent;
    const change = accepted === undefined ? NaN : (value - accepted.value) / accepted.value * 100;
    const worsePercent = definition.worse_when === "higher" ? change : -change;
    return {
      key,
      label: definition.label,
      unit: definition.unit,
      current: value,
      stored: accepted?.value,
      tolerancePercent,
      worsePercent,
      flagged: !Number.isFinite(value) || worsePercent > tolerancePercent,
    };
  });
}

/** The comparison as table rows, a header first. */
export function comparisonRows(comparisons: readonly Comparison[]): string[][] {
  const show = (value: number | undefined, unit: string) =>
    value === undefined || !Number.isFinite(value)
      ? "-"
      : `${value.toPrecision(3)}${unit ? ` ${unit}` : ""}`;
  return [
    ["figure", "this run", "stored", "worse by", "tolerance", "verdict"],
    ...comparisons.map((c) => [
      c.label,
      show(c.current, c.unit),
      show(c.stored, c.unit),
      Number.isFinite(c.worsePercent) ? `${c.worsePercent.toFixed(0)} %` : "-",
      `${c.tolerancePercent} %`,
      !Number.isFinite(c.current)
        ? "NO DATA"
        : c.stored === undefined
        ? "new"
        : c.flagged
        ? "WORSE"
        : "ok",
    ]),
  ];
}

/** Why the stored figures may not be comparable with this run's, or undefined. */
export function machineChange(stored: StoredFigures, machine: Machine): string | undefined {
  if (stored.machine.cores === machine.cores && stored.machine.cpu === machine.cpu) {
    return undefined;
  }
  return `stored figures are from ${stored.machine.cores} cores of ${stored.machine.cpu}, ` +
    `this run is on ${machine.cores} cores of ${machine.cpu}: absolute figures may differ`;
}
