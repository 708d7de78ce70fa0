import { describe, expect, it } from "vitest";

import { dayRows, firstDirection, sortNodes, type NodeHealth, type TechnicalHealth } from "./health";

function node(workflow: string, name: string, p95: number | null, errorRate: number | null = 0): NodeHealth {
  return { workflow, node: name, executions: 10, failures: 0, retries: 1, error_rate: errorRate, p50_ms: p95, p95_ms: p95 };
}

describe("runs per day", () => {
  it("stacks succeeded, failed and the rest", () => {
    const health = {
      runs_per_day: [
        { day: "2025-03-01", runs: 5, succeeded: 3, failed: 1 },
        { day: "2025-03-02", runs: 0, succeeded: 0, failed: 0 },
      ],
    } as TechnicalHealth;
    expect(dayRows(health)).toEqual([
      { day: "2025-03-01", label: "1 Mar", runs: 5, succeeded: 3, failed: 1, other: 1 },
      { day: "2025-03-02", label: "2 Mar", runs: 0, succeeded: 0, failed: 0, other: 0 },
    ]);
  });
});

describe("the node table", () => {
  const nodes = [node("b", "plan", 40), node("a", "act", null), node("a", "decide", 900, 0.1), node("a", "plan", 40)];

  it("sorts figures worst first, unmeasured last, ties by name", () => {
    expect(sortNodes(nodes, "p95_ms", "descending").map((n) => `${n.workflow}.${n.node}`)).toEqual([
      "a.decide",
      "a.plan",
      "b.plan",
      "a.act",
    ]);
    expect(sortNodes(nodes, "p95_ms", "ascending").map((n) => `${n.workflow}.${n.node}`)).toEqual([
      "a.plan",
      "b.plan",
      "a.decide",
      "a.act",
    ]);
  });

  it("sorts by workflow then node", () => {
    expect(sortNodes(nodes, "workflow", "ascending").map((n) => `${n.workflow}.${n.node}`)).toEqual([
      "a.act",
      "a.decide",
      "a.plan",
      "b.plan",
    ]);
    expect(firstDirection("workflow")).toBe("ascending");
    expect(firstDirection("error_rate")).toBe("descending");
  });

  it("does not change its input", () => {
    const copy = [...nodes];
    sortNodes(nodes, "error_rate", "descending");
    expect(nodes).toEqual(copy);
  });
});
