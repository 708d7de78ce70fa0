/**
 * Where each state of a run's graph goes on screen: a dagre layered layout of the workflow's
 * nodes, plus a start and an end marker for the graph's `__start__` and `__end__`. Pure: no
 * React, no DOM (tested in graphLayout.test.ts). Positions are top-left corners, as React Flow
 * wants them.
 */
import dagre from "@dagrejs/dagre";

export const START = "__start__";
export const END = "__end__";

export interface GraphInput {
  entry: string;
  nodes: readonly { name: string }[];
  edges: readonly { source: string; target: string; conditional: boolean }[];
}

export type LaidOutKind = "node" | "start" | "end";

export interface LaidOutNode {
  id: string;
  kind: LaidOutKind;
  /** Top-left corner. */
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface LaidOutEdge {
  id: string;
  source: string;
  target: string;
  conditional: boolean;
}

export interface GraphLayout {
  nodes: LaidOutNode[];
  edges: LaidOutEdge[];
  width: number;
  height: number;
}

export interface LayoutOptions {
  /** LR: left to right (default); TB: top to bottom. */
  direction?: "LR" | "TB";
  nodeHeight?: number;
  minNodeWidth?: number;
  /** Width per character of a node's name, to fit its label. */
  charWidth?: number;
  terminalSize?: number;
  rankSep?: number;
  nodeSep?: number;
}

const DEFAULTS: Required<LayoutOptions> = {
  direction: "LR",
  nodeHeight: 72,
  minNodeWidth: 190,
  charWidth: 8.5,
  terminalSize: 44,
  rankSep: 56,
  nodeSep: 28,
};

export function nodeWidth(name: string, options: LayoutOptions = {}): number {
  const o = { ...DEFAULTS, ...options };
  return Math.max(o.minNodeWidth, Math.ceil(name.length * o.charWidth) + 48);
}

/**
 * Lay out `graph`. Edges whose ends are neither a node of the graph nor START/END are left out
 * (they could only come from a graph and a run that disagree); repeated edges are drawn once.
 * The result is the same for the same input.
 */
export function layoutGraph(graph: GraphInput, options: LayoutOptions = {}): GraphLayout {
  const o = { ...DEFAULTS, ...options };
  const names = new Set(graph.nodes.map((n) => n.name));
  const kindOf = (id: string): LaidOutKind | null =>
    names.has(id) ? "node" : id === START ? "start" : id === END ? "end" : null;

  const edges: LaidOutEdge[] = [];
  const seen = new Set<string>();
  for (const edge of graph.edges) {
    if (!kindOf(edge.source) || !kindOf(edge.target)) continue;
    const id = `${edge.source}->${edge.target}`;
    if (seen.has(id)) continue;
    seen.add(id);
    edges.push({ id, source: edge.source, target: edge.target, conditional: edge.conditional });
  }
  // A graph whose edges leave out the way in still starts at its entry.
  if (names.has(graph.entry) && !edges.some((e) => e.source === START)) {
    edges.unshift({ id: `${START}->${graph.entry}`, source: START, target: graph.entry, conditional: false });
  }

  const ids: string[] = [];
  const add = (id: string) => {
    if (!ids.includes(id)) ids.push(id);
  };
  if (edges.some((e) => e.source === START || e.target === START)) add(START);
  for (const node of graph.nodes) add(node.name);
  if (edges.some((e) => e.source === END || e.target === END)) add(END);

  const g = new dagre.graphlib.Graph({ multigraph: false });
  g.setGraph({
    rankdir: o.direction,
    ranksep: o.rankSep,
    nodesep: o.nodeSep,
    marginx: 8,
    marginy: 8,
  });
  g.setDefaultEdgeLabel(() => ({}));
  const size = (id: string) => {
    const kind = kindOf(id);
    return kind === "node"
      ? { width: nodeWidth(id, o), height: o.nodeHeight }
      : { width: o.terminalSize, height: o.terminalSize };
  };
  for (const id of ids) g.setNode(id, size(id));
  for (const edge of edges) g.setEdge(edge.source, edge.target);
  dagre.layout(g);

  const nodes: LaidOutNode[] = ids.map((id) => {
    const label = g.node(id);
    const { width, height } = size(id);
    return {
      id,
      kind: kindOf(id) as LaidOutKind,
      x: Math.round((label.x ?? 0) - width / 2),
      y: Math.round((label.y ?? 0) - height / 2),
      width,
      height,
    };
  });
  const label = g.graph();
  return {
    nodes,
    edges,
    width: Math.ceil(Number(label.width ?? 0)),
    height: Math.ceil(Number(label.height ?? 0)),
  };
}
