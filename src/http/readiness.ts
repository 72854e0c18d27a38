/**
 * `/readyz`: whether the bridge is doing its job right now, and if not, why.
 * Pure: judges the latest snapshot and worker states.
 *
 * @module
 */
import { outboxProblemSummary } from "../outbox/outbox_problem.ts";
import type { BridgeSnapshot, WorkerState } from "../status/bridge_snapshot.ts";

/** A snapshot older than this means the proxy is stuck or gone (it sends one every ~2 s). */
export const MAX_SNAPSHOT_AGE_MS = 10_000;

/** The verdict of {@link readiness}. */
export interface Readiness {
  readonly ready: boolean;
  /** Why the bridge is not ready, one human-readable sentence each; empty when ready. */
  readonly reasons: string[];
}

/**
 * Ready when a snapshot younger than {@link MAX_SNAPSHOT_AGE_MS} exists, both
 * brokers are connected, no problem found with the outbox awaits
 * acknowledgement and every worker the supervisor reported is running.
 *
 * @param now current time in milliseconds since the epoch
 * @param snapshots whether a proxy in this process sends snapshots; a process
 * without one (`--workers config_sender,http`) is judged by its workers alone
 */
export function readiness(
  snapshot: BridgeSnapshot | undefined,
  workers: Readonly<Record<string, WorkerState>>,
  now: number,
  snapshots = true,
): Readiness {
  const reasons = snapshots ? snapshotReasons(snapshot, now) : [];
  const names = Object.keys(workers).sort();
  if (names.length === 0) reasons.push("no worker states from the supervisor yet");
  for (const name of names) {
    if (workers[name] !== "running") reasons.push(`worker ${name} is ${workers[name]}`);
  }
  return { ready: reasons.length === 0, reasons };
}

/** Why the proxy's snapshot says the bridge is not ready. */
function snapshotReasons(snapshot: BridgeSnapshot | undefined, now: number): string[] {
  if (snapshot === undefined) return ["no status from the proxy yet"];
  const reasons: string[] = [];
  const ageMs = now - Date.parse(snapshot.taken_at);
  if (ageMs >= MAX_SNAPSHOT_AGE_MS) {
    reasons.push(`no status from the proxy for ${Math.floor(ageMs / 1000)} s`);
  }
  for (const broker of ["internal", "central"] as const) {
    if (!snapshot.brokers[broker]) reasons.push(`${broker} broker not connected`);
  }
  // Readings were lost or set aside: not ready until someone has seen it, even while bridging.
  if (snapshot.outbox.problem !== null) reasons.push(outboxProblemSummary(snapshot.outbox.problem));
  return reasons;
}
