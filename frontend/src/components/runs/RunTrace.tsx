"use client";

import { Empty, ErrorPanel, Loading } from "@/components/states";
import { call } from "@/lib/api/client";
import { formatMs } from "@/lib/format";
import { useApi } from "@/lib/useApi";
import { formatUsd, layoutWaterfall, traceCost, type WaterfallRow } from "@/lib/waterfall";

import styles from "./trace.module.css";

const KIND_LABEL: Record<WaterfallRow["kind"], string> = {
  api: "API request",
  execution: "Step Functions",
  node: "node",
  model: "model call",
  other: "span",
};

function tokens(row: WaterfallRow): string | null {
  if (row.inputTokens === null && row.outputTokens === null) return null;
  return `${(row.inputTokens ?? 0).toLocaleString()} in / ${(row.outputTokens ?? 0).toLocaleString()} out tokens`;
}

/** The run's OpenTelemetry trace as a waterfall: the API request, the Step Functions execution,
 * each node (with the business event it served and what it cost), each model call. `version`
 * changes when the run does, so the trace is read again. */
export function RunTrace({ runId, version }: { runId: string; version: string }) {
  const trace = useApi(`trace|${runId}|${version}`, () =>
    call((api) => api.GET("/v1/runs/{run_id}/trace", { params: { path: { run_id: runId } } })),
  );
  if (trace.error && !trace.data) return <ErrorPanel error={trace.error} retry={trace.reload} />;
  if (!trace.data) return <Loading what="Loading the trace" />;
  const { rows, totalMs } = layoutWaterfall(trace.data.spans);
  if (rows.length === 0) {
    return (
      <div data-testid="trace-empty">
        <Empty title="No trace kept for this run">
          <p>
            {trace.data.exporter === "postgres"
              ? "This run was recorded before tracing was on, or by the demo history: it has no spans."
              : `Spans go to the ${trace.data.exporter === "otlp" ? "OTLP tracing backend (X-Ray or a collector)" : "no exporter (tracing is off)"}, not to this dashboard.`}
          </p>
        </Empty>
      </div>
    );
  }
  const cost = traceCost(rows);
  return (
    <div data-testid="run-trace">
      <p className={styles.summary}>
        {rows.length} spans over {formatMs(totalMs)}
        {cost !== null ? <> · nodes cost {formatUsd(cost)}</> : null}
        {trace.data.trace_id ? (
          <>
            {" "}
            · trace <code className={styles.traceId}>{trace.data.trace_id}</code>
          </>
        ) : null}
      </p>
      <div className={styles.waterfall} role="table" aria-label="Trace waterfall">
        <div className={styles.headRow} role="row">
          <span role="columnheader">Span</span>
          <span role="columnheader">Business event</span>
          <span role="columnheader">Time</span>
          <span role="columnheader" className={styles.num}>
            Took
          </span>
          <span role="columnheader" className={styles.num}>
            Cost
          </span>
        </div>
        {rows.map((row) => (
          <div key={row.id} className={`${styles.row} ${row.failed ? styles.failed : ""}`} role="row" data-kind={row.kind}>
            <span role="cell" className={styles.name} style={{ paddingLeft: `${row.depth * 1.1}rem` }} title={row.name}>
              <span className={`${styles.kind} ${styles[row.kind]}`}>{KIND_LABEL[row.kind]}</span>{" "}
              {row.kind === "node" ? (
                <strong>
                  {row.node}
                  {row.attempt ? ` (retry ${row.attempt})` : ""}
                </strong>
              ) : (
                row.name
              )}
            </span>
            <span role="cell" className={styles.event}>
              {row.businessEvent ?? ""}
            </span>
            <span role="cell" className={styles.track} title={tokens(row) ?? undefined}>
              <span
                className={`${styles.bar} ${styles[row.kind]} ${row.open ? styles.open : ""}`}
                style={{ left: `${row.offsetPct}%`, width: `${row.widthPct}%` }}
                data-testid="trace-bar"
              />
            </span>
            <span role="cell" className={styles.num}>
              {row.open ? "open" : formatMs(row.durationMs)}
            </span>
            <span role="cell" className={styles.num} title={tokens(row) ?? undefined}>
              {row.costUsd === null ? "" : formatUsd(row.costUsd)}
            </span>
          </div>
        ))}
      </div>
      <p className={styles.note}>
        Node cost: model tokens at list price, Lambda time and requests, Step Functions transitions. Hover a bar for
        its tokens.
      </p>
    </div>
  );
}
