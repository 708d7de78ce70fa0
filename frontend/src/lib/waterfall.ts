/** A run's trace (GET /v1/runs/{id}/trace) laid out as a waterfall: one row per span, in tree
 * order, each bar placed on one time axis shared by the whole trace. Pure: tested in
 * waterfall.test.ts. */

import type { Schemas } from "@/lib/api/client";

export type Span = Schemas["SpanOut"];

export interface WaterfallRow {
  id: string;
  name: string;
  kind: Span["kind"];
  depth: number;
  /** Where the bar starts and how wide it is, as percentages of the trace's length. */
  offsetPct: number;
  widthPct: number;
  /** Milliseconds from the trace's start to this span's start. */
  startMs: number;
  durationMs: number | null;
  /** Still open (no end yet): drawn to the end of the axis. */
  open: boolean;
  failed: boolean;
  businessEvent: string | null;
  node: string | null;
  attempt: number | null;
  costUsd: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
}

export interface Waterfall {
  rows: WaterfallRow[];
  /** The axis: first start to last end, in milliseconds. */
  totalMs: number;
  startedAt: string | null;
}

/** Below this a bar is widened so it stays visible (a 3 ms model call in a 4 hour run). */
export const MIN_WIDTH_PCT = 0.4;

const time = (iso: string) => Date.parse(iso);

function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function str(value: unknown): string | null {
  return typeof value === "string" && value ? value : null;
}

function walk(spans: Span[], depth: number, out: Array<{ span: Span; depth: number }>) {
  const ordered = [...spans].sort((a, b) => time(a.started_at) - time(b.started_at) || a.span_id.localeCompare(b.span_id));
  for (const span of ordered) {
    out.push({ span, depth });
    walk(span.children ?? [], depth + 1, out);
  }
}

export function layoutWaterfall(roots: Span[]): Waterfall {
  const flat: Array<{ span: Span; depth: number }> = [];
  walk(roots, 0, flat);
  if (flat.length === 0) return { rows: [], totalMs: 0, startedAt: null };
  const start = Math.min(...flat.map(({ span }) => time(span.started_at)));
  const end = Math.max(...flat.map(({ span }) => time(span.ended_at ?? span.started_at)));
  const totalMs = Math.max(end - start, 1);
  const rows = flat.map(({ span, depth }): WaterfallRow => {
    const begin = time(span.started_at) - start;
    const open = !span.ended_at;
    const finish = open ? totalMs : time(span.ended_at as string) - start;
    const offsetPct = Math.min((begin / totalMs) * 100, 100 - MIN_WIDTH_PCT);
    const widthPct = Math.min(Math.max(((finish - begin) / totalMs) * 100, MIN_WIDTH_PCT), 100 - offsetPct);
    const a = span.attributes ?? {};
    return {
      id: span.span_id,
      name: span.name,
      kind: span.kind,
      depth,
      offsetPct,
      widthPct,
      startMs: begin,
      durationMs: open ? null : finish - begin,
      open,
      failed: span.status === "error",
      businessEvent: str(a["flightdeck.business_event"]),
      node: str(a["flightdeck.node"]),
      attempt: num(a["flightdeck.attempt"]),
      costUsd: num(a["flightdeck.cost_usd"]),
      inputTokens: num(a["gen_ai.usage.input_tokens"]),
      outputTokens: num(a["gen_ai.usage.output_tokens"]),
    };
  });
  return { rows, totalMs, startedAt: new Date(start).toISOString() };
}

/** The trace's cost: its node spans' (model spans are already inside their node's figure). */
export function traceCost(rows: WaterfallRow[]): number | null {
  const nodes = rows.filter((r) => r.kind === "node" && r.costUsd !== null);
  return nodes.length ? nodes.reduce((sum, r) => sum + (r.costUsd ?? 0), 0) : null;
}

/** Dollars for figures that are often fractions of a cent: "$0.0153", "$3.09", "$0". */
export function formatUsd(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  if (value === 0) return "$0";
  const abs = Math.abs(value);
  if (abs >= 1) return `$${value.toFixed(2)}`;
  if (abs >= 0.01) return `$${value.toFixed(3)}`;
  return `$${value.toPrecision(3).replace(/0+$/, "").replace(/\.$/, "")}`;
}
