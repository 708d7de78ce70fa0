import { describe, expect, it } from "vitest";

import { MIN_WIDTH_PCT, formatUsd, layoutWaterfall, traceCost, type Span } from "./waterfall";

const T0 = Date.parse("2026-11-30T08:00:00.000Z");
const at = (ms: number) => new Date(T0 + ms).toISOString();

function span(id: string, kind: Span["kind"], from: number, to: number | null, extra: Partial<Span> = {}): Span {
  return {
    span_id: id,
    parent_span_id: null,
    name: id,
    kind,
    started_at: at(from),
    ended_at: to === null ? null : at(to),
    duration_ms: to === null ? null : to - from,
    status: "unset",
    attributes: {},
    children: [],
    ...extra,
  };
}

/** A support_triage run: the request (20 ms), its execution, two nodes, a model call. */
function trace(): Span[] {
  const call = span("m1", "model", 110, 113, {
    attributes: { "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30, "flightdeck.cost_usd": 0 },
  });
  const plan = span("n1", "node", 100, 300, {
    attributes: { "flightdeck.node": "plan", "flightdeck.business_event": "ticket triaged", "flightdeck.attempt": 0, "flightdeck.cost_usd": 0.0002 },
    children: [call],
  });
  const decide = span("n2", "node", 300, 1000, {
    status: "error",
    attributes: { "flightdeck.node": "decide", "flightdeck.business_event": "reply drafted", "flightdeck.cost_usd": 0.0003 },
  });
  // children arrive out of order: the layout sorts them by start
  const execution = span("e1", "execution", 15, 1000, { children: [decide, plan] });
  return [span("r1", "api", 0, 20, { children: [execution] })];
}

describe("layoutWaterfall", () => {
  it("lists spans in tree order with their depth", () => {
    const { rows } = layoutWaterfall(trace());
    expect(rows.map((r) => [r.id, r.depth])).toEqual([
      ["r1", 0],
      ["e1", 1],
      ["n1", 2],
      ["m1", 3],
      ["n2", 2],
    ]);
  });

  it("places bars on one axis from the first start to the last end", () => {
    const { rows, totalMs, startedAt } = layoutWaterfall(trace());
    expect(totalMs).toBe(1000);
    expect(startedAt).toBe(at(0));
    const plan = rows.find((r) => r.id === "n1")!;
    expect(plan.offsetPct).toBeCloseTo(10);
    expect(plan.widthPct).toBeCloseTo(20);
    expect(plan.startMs).toBe(100);
    expect(plan.durationMs).toBe(200);
    const decide = rows.find((r) => r.id === "n2")!;
    expect(decide.offsetPct + decide.widthPct).toBeCloseTo(100);
  });

  it("keeps a very short span visible", () => {
    const call = layoutWaterfall(trace()).rows.find((r) => r.id === "m1")!;
    expect(call.durationMs).toBe(3);
    expect(call.widthPct).toBe(MIN_WIDTH_PCT);
  });

  it("reads the business event, node, tokens, cost and failure from the attributes", () => {
    const { rows } = layoutWaterfall(trace());
    const plan = rows.find((r) => r.id === "n1")!;
    expect(plan.businessEvent).toBe("ticket triaged");
    expect(plan.node).toBe("plan");
    expect(plan.attempt).toBe(0);
    expect(plan.costUsd).toBe(0.0002);
    expect(rows.find((r) => r.id === "m1")!.inputTokens).toBe(120);
    expect(rows.find((r) => r.id === "n2")!.failed).toBe(true);
    expect(rows.find((r) => r.id === "r1")!.businessEvent).toBeNull();
  });

  it("draws a span without an end to the end of the axis", () => {
    const roots = [span("r1", "api", 0, 20, { children: [span("e1", "execution", 10, null, { children: [span("n1", "node", 30, 400)] })] })];
    const execution = layoutWaterfall(roots).rows.find((r) => r.id === "e1")!;
    expect(execution.open).toBe(true);
    expect(execution.durationMs).toBeNull();
    expect(execution.offsetPct + execution.widthPct).toBeCloseTo(100);
  });

  it("has no rows for a run without spans", () => {
    expect(layoutWaterfall([])).toEqual({ rows: [], totalMs: 0, startedAt: null });
  });
});

describe("traceCost", () => {
  it("adds the node spans only (a model call's cost is inside its node's)", () => {
    expect(traceCost(layoutWaterfall(trace()).rows)).toBeCloseTo(0.0005);
    expect(traceCost([])).toBeNull();
  });
});

describe("formatUsd", () => {
  it("keeps fractions of a cent readable", () => {
    expect(formatUsd(3.0941667)).toBe("$3.09");
    expect(formatUsd(0.0154708)).toBe("$0.015");
    expect(formatUsd(0.000225)).toBe("$0.000225");
    expect(formatUsd(0.0000343335)).toBe("$0.0000343");
    expect(formatUsd(0)).toBe("$0");
    expect(formatUsd(null)).toBe("—");
  });
});
