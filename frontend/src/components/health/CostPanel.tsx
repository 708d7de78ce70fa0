"use client";

import Link from "next/link";
import { useState } from "react";

import { Figure } from "@/components/insights/ChartFrame";
import { ErrorPanel, Loading } from "@/components/states";
import { call, type Schemas } from "@/lib/api/client";
import { costParts, monthLabel, perRun, recentMonths } from "@/lib/costs";
import { runHref, shortId } from "@/lib/runView";
import { useApi } from "@/lib/useApi";
import { formatUsd } from "@/lib/waterfall";

type Costs = Schemas["CostsOut"];

function load(by: "run" | "tenant", month: string, workflow: string | null) {
  return call((api) =>
    api.GET("/v1/costs", { params: { query: { by, month, limit: by === "run" ? 10 : 100, ...(workflow ? { workflow } : {}) } } }),
  );
}

/** Cost per run and per client for a calendar month, from the cost ledger (GET /v1/costs). */
export function CostPanel({ workflow }: { workflow: string | null }) {
  const [months] = useState(() => recentMonths(new Date(), 6));
  const [month, setMonth] = useState(months[0]);
  const perTenant = useApi(`costs|tenant|${month}|${workflow ?? ""}`, () => load("tenant", month, workflow));
  const perRunRows = useApi(`costs|run|${month}|${workflow ?? ""}`, () => load("run", month, workflow));

  return (
    <section className="panel cost-panel" aria-labelledby="health-cost" data-testid="cost-panel">
      <div className="cost-head">
        <h2 id="health-cost">Cost per run and per client</h2>
        <label>
          Month{" "}
          <select value={month} onChange={(e) => setMonth(e.target.value)} aria-label="Month">
            {months.map((m) => (
              <option key={m} value={m}>
                {monthLabel(m)}
              </option>
            ))}
          </select>
        </label>
      </div>
      {perTenant.error && !perTenant.data ? (
        <ErrorPanel error={perTenant.error} retry={perTenant.reload} />
      ) : !perTenant.data ? (
        <Loading what="Loading costs" />
      ) : (
        <CostBody tenants={perTenant.data} runs={perRunRows.data} />
      )}
    </section>
  );
}

function CostBody({ tenants, runs }: { tenants: Costs; runs: Costs | undefined }) {
  const t = tenants.total;
  const average = perRun(t);
  const parts = costParts(t);
  return (
    <>
      <p className="muted small">
        {monthLabel(tenants.month)}, UTC. List prices of {tenants.prices.region} as of {tenants.prices.as_of}; storage is a
        month of what each client keeps now.
        {t.unpriced_tokens ? ` ${t.unpriced_tokens.toLocaleString()} tokens of models without a listed price are not included.` : ""}
      </p>
      <div className="figure-grid">
        <Figure label="This month" value={formatUsd(t.total_usd)} detail={`${t.runs.toLocaleString()} runs, ${t.executions.toLocaleString()} node executions`} />
        <Figure
          label="Per run"
          value={formatUsd(average)}
          why={average === null ? "No run was priced this month." : null}
          detail="model, Lambda, Step Functions, API Gateway"
        />
        <Figure
          label="Model tokens"
          value={(t.input_tokens + t.output_tokens).toLocaleString()}
          detail={`${t.input_tokens.toLocaleString()} in, ${t.output_tokens.toLocaleString()} out: ${formatUsd(t.model_usd)}`}
        />
      </div>
      {parts.length ? (
        <p className="cost-split" data-testid="cost-split">
          {parts.map((p) => `${p.label} ${formatUsd(p.usd)}`).join(" · ")}
        </p>
      ) : null}

      <h3>Per client</h3>
      {tenants.rows.length === 0 ? (
        <p className="chart-empty">Nothing was priced this month.</p>
      ) : (
        <div className="table-scroll">
          <table className="node-table" data-testid="cost-per-client">
            <thead>
              <tr>
                <th scope="col">Client</th>
                <th scope="col" className="num">Runs</th>
                <th scope="col" className="num">Model</th>
                <th scope="col" className="num">Lambda</th>
                <th scope="col" className="num">Step Functions</th>
                <th scope="col" className="num">API Gateway</th>
                <th scope="col" className="num">Storage</th>
                <th scope="col" className="num">Total</th>
              </tr>
            </thead>
            <tbody>
              {tenants.rows.map((r) => (
                <tr key={r.key}>
                  <th scope="row">{r.label}</th>
                  <td className="num">{r.runs.toLocaleString()}</td>
                  <td className="num">{formatUsd(r.model_usd)}</td>
                  <td className="num">{formatUsd(r.lambda_usd)}</td>
                  <td className="num">{formatUsd(r.stepfunctions_usd)}</td>
                  <td className="num">{formatUsd(r.api_usd)}</td>
                  <td className="num">{formatUsd(r.storage_usd)}</td>
                  <td className="num">
                    <strong>{formatUsd(r.total_usd)}</strong>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h3>Most expensive runs</h3>
      {!runs ? (
        <Loading what="Loading runs' costs" />
      ) : runs.rows.length === 0 ? (
        <p className="chart-empty">No run was priced this month.</p>
      ) : (
        <div className="table-scroll">
          <table className="node-table" data-testid="cost-per-run">
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col" className="num">Node executions</th>
                <th scope="col" className="num">Tokens</th>
                <th scope="col" className="num">Cost</th>
              </tr>
            </thead>
            <tbody>
              {runs.rows.map((r) => (
                <tr key={r.key}>
                  <th scope="row">
                    <span className="muted">{r.workflow}</span> / <Link href={runHref(r.key)}>run {shortId(r.key)}</Link>
                  </th>
                  <td className="num">{r.executions.toLocaleString()}</td>
                  <td className="num">{(r.input_tokens + r.output_tokens).toLocaleString()}</td>
                  <td className="num">{formatUsd(r.total_usd)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
