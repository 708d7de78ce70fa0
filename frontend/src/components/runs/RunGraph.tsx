"use client";

import {
  Controls,
  Handle,
  MarkerType,
  Position,
  ReactFlow,
  type Edge,
  type Node,
  type NodeProps,
  type NodeTypes,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { useEffect, useMemo, useRef } from "react";

import { formatMs } from "@/lib/format";
import { END, START, layoutGraph } from "@/lib/graphLayout";
import { NODE_STATUSES, nodeStatusInfo, type GraphNode, type Run } from "@/lib/runView";

import styles from "./runs.module.css";

type StateData = {
  name: string;
  status: string;
  retries: number;
  durationMs: number | null;
  errorType: string | null;
  current: boolean;
};
type TerminalData = { kind: "start" | "end" };
type StateNode = Node<StateData, "state">;
type TerminalNode = Node<TerminalData, "terminal">;

function StateNodeView({ data }: NodeProps<StateNode>) {
  const info = nodeStatusInfo(data.status);
  const meta = [
    data.durationMs !== null ? formatMs(data.durationMs) : null,
    data.retries ? `retried ${data.retries}×` : null,
  ].filter(Boolean);
  return (
    <div
      className={`${styles.node} ${styles[`tone-${info.tone}`]} ${data.current ? styles.nodeCurrent : ""}`}
      data-node-status={data.status}
      data-node={data.name}
    >
      <Handle type="target" position={Position.Left} className={styles.handle} isConnectable={false} />
      <span className={styles.nodeName} title={data.errorType ? `${data.name}: ${data.errorType}` : data.name}>
        {data.name}
      </span>
      <span className={styles.nodeStatus}>
        <span aria-hidden="true">{info.symbol}</span> {info.label}
      </span>
      {meta.length ? <span className={styles.nodeMeta}>{meta.join(" · ")}</span> : null}
      <Handle type="source" position={Position.Right} className={styles.handle} isConnectable={false} />
    </div>
  );
}

function TerminalNodeView({ data }: NodeProps<TerminalNode>) {
  return (
    <div className={styles.terminal}>
      {data.kind === "end" ? <Handle type="target" position={Position.Left} className={styles.handle} isConnectable={false} /> : null}
      {data.kind}
      {data.kind === "start" ? <Handle type="source" position={Position.Right} className={styles.handle} isConnectable={false} /> : null}
    </div>
  );
}

const NODE_TYPES: NodeTypes = { state: StateNodeView, terminal: TerminalNodeView };

/** Reached: the run got there (or is there). */
function reached(status: string | undefined): boolean {
  return (
    status === "succeeded" || status === "running" || status === "waiting" || status === "failed" || status === "stopped"
  );
}

export function GraphLegend() {
  return (
    <ul className={styles.legend} aria-label="Legend">
      {NODE_STATUSES.map((status) => {
        const info = nodeStatusInfo(status);
        return (
          <li key={status}>
            <span className={`${styles.swatch} ${styles[`tone-${info.tone}`]}`} aria-hidden="true">
              {info.symbol}
            </span>
            {info.label}
          </li>
        );
      })}
      <li>
        <span className={styles.dashed} aria-hidden="true" /> a branch the workflow chooses at run time
      </li>
    </ul>
  );
}

/**
 * The run's state graph: the workflow's nodes laid out by dagre (graphLayout.ts), each coloured
 * and labelled by its status in this run. The layout depends only on the graph's shape, so a
 * live refresh recolours nodes without moving them.
 */
export function RunGraph({ run, retries }: { run: Run; retries: Record<string, number> }) {
  const { graph } = run;
  const shape = JSON.stringify([graph.entry, graph.nodes.map((n) => n.name), graph.edges]);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const layout = useMemo(() => layoutGraph(graph), [shape]);

  const marked = useRef(false);
  useEffect(() => {
    if (marked.current || layout.nodes.length === 0) return;
    marked.current = true;
    performance.mark("run-graph-drawn");
  }, [layout]);

  const byName = useMemo(() => new Map<string, GraphNode>(graph.nodes.map((n) => [n.name, n])), [graph.nodes]);
  const moving = run.status === "queued" || run.status === "running" || run.status === "waiting_for_approval";

  const nodes = useMemo<(StateNode | TerminalNode)[]>(
    () =>
      layout.nodes.map((n) => {
        const common = {
          id: n.id,
          position: { x: n.x, y: n.y },
          width: n.width,
          height: n.height,
          draggable: false,
          connectable: false,
          selectable: false,
        };
        if (n.kind !== "node") {
          return {
            ...common,
            type: "terminal" as const,
            data: { kind: n.kind },
            focusable: false,
            ariaLabel: n.kind === "start" ? "Start" : "End",
          };
        }
        const node = byName.get(n.id);
        const status = node?.status ?? "pending";
        const info = nodeStatusInfo(status);
        const data: StateData = {
          name: n.id,
          status,
          retries: retries[n.id] ?? 0,
          durationMs: node?.duration_ms ?? null,
          errorType: node?.error_type ?? null,
          current: moving && run.current_node === n.id,
        };
        return {
          ...common,
          type: "state" as const,
          data,
          ariaLabel: `${n.id}: ${info.label}${data.durationMs !== null ? `, took ${formatMs(data.durationMs)}` : ""}${
            data.retries ? `, retried ${data.retries} times` : ""
          }`,
        };
      }),
    [layout, byName, retries, moving, run.current_node],
  );

  const edges = useMemo<Edge[]>(
    () =>
      layout.edges.map((e) => {
        const source = e.source === START ? "succeeded" : byName.get(e.source)?.status;
        const target = e.target === END ? (run.status === "succeeded" ? "succeeded" : undefined) : byName.get(e.target)?.status;
        const taken = source === "succeeded" && reached(target);
        const colour = taken ? "#334155" : "#b8c0cc";
        return {
          id: e.id,
          source: e.source,
          target: e.target,
          focusable: false,
          selectable: false,
          markerEnd: { type: MarkerType.ArrowClosed, color: colour, width: 16, height: 16 },
          style: {
            stroke: colour,
            strokeWidth: taken ? 2 : 1.5,
            strokeDasharray: e.conditional ? "6 4" : undefined,
          },
        };
      }),
    [layout, byName, run.status],
  );

  const height = Math.min(Math.max(layout.height + 48, 200), 520);
  return (
    <div className={styles.graph} style={{ height }} data-testid="run-graph">
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={NODE_TYPES}
        fitView
        fitViewOptions={{ padding: 0.12, maxZoom: 1.1 }}
        minZoom={0.3}
        maxZoom={2}
        nodesDraggable={false}
        nodesConnectable={false}
        elementsSelectable={false}
        zoomOnScroll={false}
        preventScrolling={false}
        zoomOnDoubleClick={false}
        aria-label={`State graph of ${run.workflow}`}
      >
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}
