/** Pure transforms behind the Health page: tested in health.test.ts. */
import type { Schemas } from "@/lib/api/client";
import { formatDay } from "@/lib/range";

export type TechnicalHealth = Schemas["TechnicalHealth"];
export type NodeHealth = Schemas["NodeHealth"];

export interface DayRow {
  day: string;
  label: string;
  runs: number;
  succeeded: number;
  failed: number;
  /** Runs that neither succeeded nor failed (still in progress, or cancelled). */
  other: number;
}

export function dayRows(health: TechnicalHealth): DayRow[] {
  return health.runs_per_day.map((d) => ({
    day: d.day,
    label: formatDay(d.day, false),
    runs: d.runs,
    succeeded: d.succeeded,
    failed: d.failed,
    other: Math.max(0, d.runs - d.succeeded - d.failed),
  }));
}

export type NodeSortKey = "workflow" | "executions" | "p50_ms" | "p95_ms" | "error_rate" | "retries";
export type SortDirection = "ascending" | "descending";

/**
 * Sort the per-node table. Unmeasured values (null) go last whatever the direction; ties keep
 * workflow then node order, so the table never reshuffles on a refresh.
 */
export function sortNodes(nodes: NodeHealth[], key: NodeSortKey, direction: SortDirection): NodeHealth[] {
  const sign = direction === "ascending" ? 1 : -1;
  const byName = (a: NodeHealth, b: NodeHealth) =>
    a.workflow.localeCompare(b.workflow) || a.node.localeCompare(b.node);
  return [...nodes].sort((a, b) => {
    if (key === "workflow") return sign * byName(a, b);
    const x = a[key];
    const y = b[key];
    if (x === null && y === null) return byName(a, b);
    if (x === null) return 1;
    if (y === null) return -1;
    return sign * (x - y) || byName(a, b);
  });
}

/** The way a column starts sorting when first chosen: names A→Z, figures worst first. */
export function firstDirection(key: NodeSortKey): SortDirection {
  return key === "workflow" ? "ascending" : "descending";
}
