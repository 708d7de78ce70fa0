"use client";

import { Suspense, useMemo, useState } from "react";

import { CostPanel } from "@/components/health/CostPanel";
import { CHART, ChartFrame, Figure } from "@/components/insights/ChartFrame";
import { RangeControls, useInsightQuery, useWorkflowOptions } from "@/components/insights/RangeControls";
import { StackedBars } from "@/components/insights/lazyCharts";
import { ErrorPanel, Loading } from "@/components/states";
import { call } from "@/lib/api/client";
import { formatDateTime, formatMs, formatPercent } from "@/lib/format";
import {
  dayRows,
  firstDirection,
  sortNodes,
  type NodeHealth,
  type NodeSortKey,
  type SortDirection,
  type TechnicalHealth,
} from "@/lib/health";
import { hasNonZero } from "@/lib/outcomes";
import { describeRange, rangeKey, rangeQuery } from "@/lib/range";
import { useApi } from "@/lib/useApi";

import "@/app/insights.css";

/** Technical health: latency per node, error and retry rates, runs per day. Secondary to
 * Outcomes: it says whether the machinery is sound, not what it was worth. */
export default function HealthPage() {
  return (
    <Suspense fallback={<Loading what="Loading technical health" />}>
      <Health />
    </Suspense>
  );
}

function Health() {
  const { state, set } = useInsightQuery();
  const health = useApi(`health|${rangeKey(state)}`, () =>
    call((api) => api.GET("/v1/health", { params: { query: rangeQuery(state) } })),
  );
  const seen = useMemo(() => {
    const names = new Set(health.data?.nodes.map((n) => n.workflow) ?? []);
    return [...names].map((name) => ({ name, description: "" }));
  }, [health.data]);
  const workflows = useWorkflowOptions(seen);

  return (
    <div className="insights">
      <header className="insight-header">
        <h1>Technical health</h1>
        <p className="muted">
          How the machinery ran over {describeRange(state)},{" "}
          {state.workflow ? (
            <>
              for <strong>{state.workflow}</strong>
            </>
          ) : (
            "across all workflows"
          )}
          : speed per step, errors, retries.
        </p>
      </header>

      <RangeControls state={state} onChange={set} workflows={workflows} />

      {health.error && !health.data ? (
        <ErrorPanel error={health.error} retry={health.reload} />
      ) : !health.data ? (
        <Loading what="Loading technical health" />
      ) : (
        <HealthSections health={health.data} />
      )}

      <CostPanel workflow={state.workflow ?? null} />
    </div>
  );
}

function HealthSections({ health: h }: { health: TechnicalHealth }) {
  const days = dayRows(h);
  return (
    <>
      <p className="muted small window-note">
        Figures from {formatDateTime(h.window.since)} to {formatDateTime(h.window.until)} (your local time).
      </p>

      <div className="figure-grid">
        <Figure
          label="Run error rate"
          value={formatPercent(h.error_rate, 1)}
          why={h.error_rate === null ? "No run finished in this period." : null}
          detail={`${h.failed_runs.toLocaleString()} failed of ${h.finished_runs.toLocaleString()} finished runs`}
          tone={h.error_rate ? "bad" : h.error_rate === 0 ? "ok" : undefined}
        />
        <Figure
          label="Step retry rate"
          value={formatPercent(h.retry_rate, 1)}
          why={h.retry_rate === null ? "No step ran in this period." : null}
          detail={`${h.retried_executions.toLocaleString()} retried of ${h.node_executions.toLocaleString()} step executions`}
          tone={h.retry_rate ? "warn" : undefined}
        />
        <Figure label="Runs" value={h.runs.toLocaleString()} detail={`${h.finished_runs.toLocaleString()} finished`} />
        <Figure label="Step executions" value={h.node_executions.toLocaleString()} detail="steps that ran, all workflows in view" />
      </div>

      <section className="panel" aria-labelledby="health-days">
        <h2 id="health-days">Runs per day</h2>
        <ChartFrame
          title="Runs per day (UTC)"
          caption="Succeeded and failed; the rest are still in progress or were cancelled."
          rows={days}
          columns={[
            { key: "day", label: "Day" },
            { key: "runs", label: "Runs", numeric: true },
            { key: "succeeded", label: "Succeeded", numeric: true },
            { key: "failed", label: "Failed", numeric: true },
            { key: "other", label: "Other", numeric: true },
          ]}
          empty={hasNonZero(days, "runs") ? null : "No runs in this period."}
        >
          <StackedBars
            rows={days}
            series={[
              { key: "succeeded", name: "Succeeded", color: CHART.ok },
              { key: "failed", name: "Failed", color: CHART.bad },
              { key: "other", name: "In progress or cancelled", color: CHART.idle },
            ]}
          />
        </ChartFrame>
      </section>

      <NodeTable nodes={h.nodes} />
    </>
  );
}

const COLUMNS: { key: NodeSortKey; label: string; numeric: boolean }[] = [
  { key: "workflow", label: "Workflow / step", numeric: false },
  { key: "executions", label: "Executions", numeric: true },
  { key: "p50_ms", label: "Median", numeric: true },
  { key: "p95_ms", label: "95th pct", numeric: true },
  { key: "error_rate", label: "Error rate", numeric: true },
  { key: "retries", label: "Retries", numeric: true },
];

function NodeTable({ nodes }: { nodes: NodeHealth[] }) {
  // Null: as the API lists them, each workflow's steps in the order they run.
  const [sort, setSort] = useState<{ key: NodeSortKey; direction: SortDirection } | null>(null);
  const sorted = useMemo(() => (sort ? sortNodes(nodes, sort.key, sort.direction) : nodes), [nodes, sort]);

  function sortBy(key: NodeSortKey) {
    setSort((s) =>
      s?.key === key
        ? { key, direction: s.direction === "ascending" ? "descending" : "ascending" }
        : { key, direction: firstDirection(key) },
    );
  }

  return (
    <section className="panel" aria-labelledby="health-nodes">
      <h2 id="health-nodes">Steps</h2>
      <p className="muted">
        Each step of each workflow: how often it ran, how long it took (median and 95th percentile), how
        often it failed and how many retries it needed. Steps are listed in the order they run; sort by any
        column.
      </p>
      {nodes.length === 0 ? (
        <p className="chart-empty">No step ran in this period.</p>
      ) : (
        <div className="table-scroll">
          <table className="node-table">
            <caption className="visually-hidden">
              {sort
                ? `Steps, sorted by ${COLUMNS.find((c) => c.key === sort.key)?.label} ${sort.direction}`
                : "Steps, in the order each workflow runs them"}
            </caption>
            <thead>
              <tr>
                {COLUMNS.map((c) => (
                  <th
                    key={c.key}
                    scope="col"
                    className={c.numeric ? "num" : undefined}
                    aria-sort={sort?.key === c.key ? sort.direction : undefined}
                  >
                    <button type="button" className="sort-button" onClick={() => sortBy(c.key)}>
                      {c.label}
                      <span aria-hidden="true" className="sort-mark">
                        {sort?.key === c.key ? (sort.direction === "ascending" ? " ▲" : " ▼") : " ↕"}
                      </span>
                    </button>
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {sorted.map((n) => (
                <tr key={`${n.workflow}/${n.node}`}>
                  <th scope="row">
                    <span className="muted">{n.workflow}</span> / <code>{n.node}</code>
                  </th>
                  <td className="num">{n.executions.toLocaleString()}</td>
                  <td className="num">{formatMs(n.p50_ms)}</td>
                  <td className="num">{formatMs(n.p95_ms)}</td>
                  <td className={`num${n.error_rate ? " cell-bad" : ""}`}>
                    {formatPercent(n.error_rate, 1)}
                    {n.failures ? <span className="muted small"> ({n.failures.toLocaleString()} failed)</span> : null}
                  </td>
                  <td className={`num${n.retries ? " cell-warn" : ""}`}>{n.retries.toLocaleString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
