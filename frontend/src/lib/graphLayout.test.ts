import { describe, expect, it } from "vitest";

import { END, START, layoutGraph, nodeWidth, type GraphInput, type LaidOutNode } from "./graphLayout";

/** The support_triage workflow as GET /v1/runs/{id} answers its graph. */
const TRIAGE: GraphInput = {
  entry: "plan",
  nodes: ["plan", "retrieve", "decide", "act", "reflect"].map((name) => ({ name })),
  edges: [
    { source: START, target: "plan", conditional: false },
    { source: "plan", target: "retrieve", conditional: false },
    { source: "retrieve", target: "decide", conditional: false },
    { source: "decide", target: "act", conditional: true },
    { source: "decide", target: "reflect", conditional: true },
    { source: "act", target: "reflect", conditional: false },
    { source: "reflect", target: END, conditional: false },
  ],
};

const byId = (nodes: LaidOutNode[]) => Object.fromEntries(nodes.map((n) => [n.id, n]));
const centreX = (n: LaidOutNode) => n.x + n.width / 2;
const centreY = (n: LaidOutNode) => n.y + n.height / 2;

function overlaps(a: LaidOutNode, b: LaidOutNode): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

describe("layoutGraph", () => {
  it("places every node, plus start and end markers", () => {
    const layout = layoutGraph(TRIAGE);
    expect(layout.nodes.map((n) => n.id)).toEqual([START, "plan", "retrieve", "decide", "act", "reflect", END]);
    expect(layout.nodes.map((n) => n.kind)).toEqual(["start", "node", "node", "node", "node", "node", "end"]);
    for (const node of layout.nodes) {
      expect(Number.isFinite(node.x) && Number.isFinite(node.y)).toBe(true);
      expect(node.width).toBeGreaterThan(0);
      expect(node.height).toBeGreaterThan(0);
    }
  });

  it("follows the edges left to right", () => {
    const n = byId(layoutGraph(TRIAGE).nodes);
    const order = [START, "plan", "retrieve", "decide", "act", "reflect", END];
    for (let i = 1; i < order.length; i++) {
      expect(centreX(n[order[i]])).toBeGreaterThan(centreX(n[order[i - 1]]));
    }
  });

  it("follows the edges top to bottom when asked", () => {
    const n = byId(layoutGraph(TRIAGE, { direction: "TB" }).nodes);
    expect(centreY(n.plan)).toBeLessThan(centreY(n.retrieve));
    expect(centreY(n.act)).toBeLessThan(centreY(n.reflect));
  });

  it("keeps nodes apart and inside the reported size", () => {
    const layout = layoutGraph(TRIAGE);
    for (const a of layout.nodes) {
      expect(a.x).toBeGreaterThanOrEqual(0);
      expect(a.y).toBeGreaterThanOrEqual(0);
      expect(a.x + a.width).toBeLessThanOrEqual(layout.width);
      expect(a.y + a.height).toBeLessThanOrEqual(layout.height);
      for (const b of layout.nodes) if (a !== b) expect(overlaps(a, b)).toBe(false);
    }
  });

  it("keeps the edges and whether they are conditional", () => {
    const { edges } = layoutGraph(TRIAGE);
    expect(edges).toHaveLength(7);
    expect(edges.find((e) => e.id === "decide->act")).toEqual({
      id: "decide->act",
      source: "decide",
      target: "act",
      conditional: true,
    });
    expect(edges.filter((e) => e.conditional).map((e) => e.target)).toEqual(["act", "reflect"]);
  });

  it("draws repeated edges once and leaves out edges to unknown nodes", () => {
    const layout = layoutGraph({
      entry: "a",
      nodes: [{ name: "a" }, { name: "b" }],
      edges: [
        { source: START, target: "a", conditional: false },
        { source: "a", target: "b", conditional: false },
        { source: "a", target: "b", conditional: false },
        { source: "b", target: "ghost", conditional: false },
      ],
    });
    expect(layout.edges.map((e) => e.id)).toEqual([`${START}->a`, "a->b"]);
    expect(layout.nodes.map((n) => n.id)).toEqual([START, "a", "b"]);
  });

  it("adds the way in when the edges leave it out", () => {
    const layout = layoutGraph({ entry: "only", nodes: [{ name: "only" }], edges: [] });
    expect(layout.edges).toEqual([{ id: `${START}->only`, source: START, target: "only", conditional: false }]);
    expect(layout.nodes.map((n) => n.id)).toEqual([START, "only"]);
  });

  it("lays out a graph that loops back", () => {
    const layout = layoutGraph({
      entry: "draft",
      nodes: [{ name: "draft" }, { name: "review" }],
      edges: [
        { source: START, target: "draft", conditional: false },
        { source: "draft", target: "review", conditional: false },
        { source: "review", target: "draft", conditional: true },
        { source: "review", target: END, conditional: true },
      ],
    });
    const n = byId(layout.nodes);
    expect(centreX(n.draft)).toBeLessThan(centreX(n.review));
    expect(layout.edges).toHaveLength(4);
  });

  it("answers an empty layout for an empty graph", () => {
    expect(layoutGraph({ entry: "", nodes: [], edges: [] })).toMatchObject({ nodes: [], edges: [] });
  });

  it("is the same for the same input", () => {
    expect(layoutGraph(TRIAGE)).toEqual(layoutGraph(TRIAGE));
  });

  it("makes nodes wide enough for long names", () => {
    expect(nodeWidth("act")).toBe(nodeWidth("plan"));
    expect(nodeWidth("act", { minNodeWidth: 100 })).toBe(100);
    expect(nodeWidth("summarise_customer_history_and_orders")).toBeGreaterThan(nodeWidth("act"));
    const long = "summarise_customer_history_and_orders";
    const n = byId(layoutGraph({ entry: long, nodes: [{ name: long }], edges: [] }).nodes);
    expect(n[long].width).toBe(nodeWidth(long));
  });
});
