"use client";

import { Suspense, useId, type ReactNode } from "react";

import { CHART, ChartFrame, Figure } from "@/components/insights/ChartFrame";
import { RangeControls, useInsightQuery, useWorkflowOptions } from "@/components/insights/RangeControls";
import { BenefitCurve, DurationLines, HoursBars, RateLines, StackedBars } from "@/components/insights/lazyCharts";
import { ErrorPanel, Loading } from "@/components/states";
import { call } from "@/lib/api/client";
import { formatDateTime, formatDuration, formatPercent } from "@/lib/format";
import {
  benefitRows,
  benefitShown,
  benefitsFor,
  cxShown,
  effectivenessShown,
  formatHoursValue,
  formatScore,
  hasNonZero,
  hasValues,
  staffShown,
  trendRows,
  turnaroundShown,
  type OutcomeFigures,
  type OutcomeSeries,
  type OutcomesOut,
  type TrendRow,
  type WorkflowOutcomes,
} from "@/lib/outcomes";
import { defaultBucket, describeRange, rangeKey, rangeQuery, type Bucket } from "@/lib/range";
import { useApi, type Loaded } from "@/lib/useApi";

import "@/app/insights.css";

/** Outcomes, the landing page: what the automations were worth over a period. */
export default function OutcomesPage() {
  return (
    <Suspense fallback={<Loading what="Loading outcomes" />}>
      <Outcomes />
    </Suspense>
  );
}

function Outcomes() {
  const { state, params, set, setParam } = useInsightQuery();
  const chosen = params.get("bucket");
  const bucket: Bucket = chosen === "day" || chosen === "week" ? chosen : defaultBucket(state);
  const key = rangeKey(state);

  const outcomes = useApi(`outcomes|${key}`, () =>
    call((api) => api.GET("/v1/outcomes", { params: { query: rangeQuery(state) } })),
  );
  const series = useApi(`series|${key}|${bucket}`, () =>
    call((api) => api.GET("/v1/outcomes/timeseries", { params: { query: { ...rangeQuery(state), bucket } } })),
  );
  const workflows = useWorkflowOptions(
    outcomes.data?.workflows.map((w) => ({ name: w.workflow, description: w.description })) ?? [],
  );
  const description = workflows.find((w) => w.name === state.workflow)?.description;

  return (
    <div className="insights">
      <header className="insight-header">
        <h1>Outcomes</h1>
        <p className="muted">
          What your automations were worth over {describeRange(state)},{" "}
          {state.workflow ? (
            <>
              for <strong>{state.workflow}</strong>
              {description ? ` (${description})` : ""}
            </>
          ) : (
            "across all workflows"
          )}
          .
        </p>
      </header>

      <RangeControls state={state} onChange={set} workflows={workflows} />

      {outcomes.error && !outcomes.data ? (
        <ErrorPanel error={outcomes.error} retry={outcomes.reload} />
      ) : !outcomes.data ? (
        <Loading what="Loading outcomes" />
      ) : (
        <OutcomeSections
          outcomes={outcomes.data}
          workflow={state.workflow}
          series={series}
          bucket={bucket}
          setBucket={(b) => setParam("bucket", b === defaultBucket(state) ? null : b)}
          chooseWorkflow={(w) => set({ ...state, workflow: w })}
        />
      )}
    </div>
  );
}

function OutcomeSections({
  outcomes,
  workflow,
  series,
  bucket,
  setBucket,
  chooseWorkflow,
}: {
  outcomes: OutcomesOut;
  workflow: string | null;
  series: Loaded<OutcomeSeries>;
  bucket: Bucket;
  setBucket: (b: Bucket) => void;
  chooseWorkflow: (w: string) => void;
}) {
  const f = outcomes.total;
  const rows = series.data ? trendRows(series.data) : null;
  const trend = (render: (rows: TrendRow[]) => ReactNode) =>
    series.error && !rows ? (
      <ErrorPanel error={series.error} retry={series.reload} />
    ) : !rows ? (
      <Loading what="Loading the trend" />
    ) : (
      render(rows)
    );

  return (
    <>
      <p className="muted small window-note">
        Figures from {formatDateTime(outcomes.window.since)} to {formatDateTime(outcomes.window.until)} (your local time).
      </p>

      <RunSummary figures={f} />

      <section className="panel" aria-labelledby="trend-runs">
        <div className="section-head">
          <h2 id="trend-runs">Runs</h2>
          <BucketToggle bucket={bucket} onChange={setBucket} />
        </div>
        {trend((r) => (
          <ChartFrame
            title={`Runs per ${bucket}`}
            caption="Succeeded, failed, and the rest (still in progress, or cancelled)."
            rows={r}
            columns={[
              { key: "label", label: bucket === "week" ? "Week" : "Day" },
              { key: "runs", label: "Runs", numeric: true },
              { key: "succeeded", label: "Succeeded", numeric: true },
              { key: "failed", label: "Failed", numeric: true },
              { key: "other", label: "Other", numeric: true },
            ]}
            empty={hasNonZero(r, "runs") ? null : "No runs in this period."}
          >
            <StackedBars
              rows={r}
              series={[
                { key: "succeeded", name: "Succeeded", color: CHART.ok },
                { key: "failed", name: "Failed", color: CHART.bad },
                { key: "other", name: "In progress or cancelled", color: CHART.idle },
              ]}
            />
          </ChartFrame>
        ))}
      </section>

      <TimeToBenefitSection workflows={benefitsFor(outcomes, workflow)} filtered={workflow !== null} />

      <EffectivenessSection figures={f} trend={trend} bucket={bucket} />

      <StaffSection figures={f} trend={trend} bucket={bucket} />

      <CustomerSection figures={f} trend={trend} bucket={bucket} />

      <TurnaroundSection figures={f} trend={trend} bucket={bucket} />

      {workflow === null && outcomes.workflows.length > 0 ? (
        <WorkflowTable workflows={outcomes.workflows} choose={chooseWorkflow} />
      ) : null}
    </>
  );
}

type Trend = (render: (rows: TrendRow[]) => ReactNode) => ReactNode;

function RunSummary({ figures: f }: { figures: OutcomeFigures }) {
  if (f.runs === 0) {
    return (
      <p className="notice" role="status">
        No runs in this period yet. Figures below read “—” until runs finish; time to benefit counts all
        time.
      </p>
    );
  }
  return (
    <p className="run-summary">
      <strong>{f.runs.toLocaleString()}</strong> runs: {f.succeeded.toLocaleString()} succeeded,{" "}
      {f.failed.toLocaleString()} failed, {f.cancelled.toLocaleString()} cancelled,{" "}
      {f.in_progress.toLocaleString()} in progress.
    </p>
  );
}

function BucketToggle({ bucket, onChange }: { bucket: Bucket; onChange: (b: Bucket) => void }) {
  const id = useId();
  return (
    <div className="insight-control inline">
      <span className="insight-control-label" id={id}>
        Trend by
      </span>
      <div className="segmented" role="group" aria-labelledby={id}>
        {(["day", "week"] as const).map((b) => (
          <button key={b} type="button" className="segment" aria-pressed={bucket === b} onClick={() => onChange(b)}>
            {b === "day" ? "Day" : "Week"}
          </button>
        ))}
      </div>
    </div>
  );
}

function Section({ id, title, lead, children }: { id: string; title: string; lead: ReactNode; children: ReactNode }) {
  return (
    <section className="panel outcome-section" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      <p className="muted">{lead}</p>
      {children}
    </section>
  );
}

function TimeToBenefitSection({ workflows, filtered }: { workflows: WorkflowOutcomes[]; filtered: boolean }) {
  return (
    <Section
      id="outcome-benefit"
      title="Time to benefit"
      lead="Days from a workflow's first run until the staff time it saved passed the time it took to set up. Counted over all time, not only this period."
    >
      {workflows.length === 0 ? (
        <p className="chart-empty">
          {filtered ? "This workflow has no figures yet." : "No workflow has run for you yet: the clock starts with the first run."}
        </p>
      ) : (
        <div className="benefit-list">
          {workflows.map((w) => (
            <BenefitCard key={w.workflow} outcomes={w} />
          ))}
        </div>
      )}
    </Section>
  );
}

function BenefitCard({ outcomes: w }: { outcomes: WorkflowOutcomes }) {
  const t = w.time_to_benefit;
  const b = benefitShown(t);
  const rows = benefitRows(t);
  const setupHours = t.setup_minutes / 60;
  const id = useId();
  return (
    <article className={`benefit-card benefit-${b.state}`} aria-labelledby={`${id}-name`}>
      <div className="benefit-head">
        <div>
          <h3 id={`${id}-name`}>{w.workflow}</h3>
          {w.description ? <p className="muted small">{w.description}</p> : null}
        </div>
        <div className="benefit-figure">
          <span className="figure-value">{b.headline}</span>
          <span className="muted small">{b.state === "reached" ? "to pay back its setup" : "time to benefit"}</span>
        </div>
      </div>
      <p>{b.detail}</p>
      {b.progress !== null ? (
        <div className="benefit-progress">
          <label htmlFor={`${id}-progress`} className="small">
            Setup time paid back
          </label>
          <progress id={`${id}-progress`} max={1} value={b.progress}>
            {formatPercent(b.progress)}
          </progress>
          <span className="small">{formatPercent(b.progress)}</span>
        </div>
      ) : null}
      <ChartFrame
        title={`${w.workflow}: staff time saved against setup time`}
        caption={`First run ${formatDateTime(t.first_run_at)}${t.reached_at ? `; paid back ${formatDateTime(t.reached_at)}` : ""}.`}
        rows={rows}
        columns={[
          { key: "day", label: "Day" },
          { key: "savedHours", label: "Saved so far (h)", numeric: true },
          { key: "setupHours", label: "Setup (h)", numeric: true },
        ]}
        empty={rows.length === 0 ? "No staff time saved yet: nothing to draw." : null}
        height={200}
      >
        <BenefitCurve rows={rows} setupHours={setupHours} />
      </ChartFrame>
    </article>
  );
}

function EffectivenessSection({ figures, trend, bucket }: { figures: OutcomeFigures; trend: Trend; bucket: Bucket }) {
  const e = effectivenessShown(figures);
  return (
    <Section
      id="outcome-effectiveness"
      title="Effectiveness and quality"
      lead="How often the work was done right the first time, how often people accepted what the workflow proposed, and how it was scored."
    >
      <div className="figure-grid">
        <Figure label="Succeeded without edits" value={e.withoutEdit.text} why={e.withoutEdit.why} detail={e.withoutEditDetail} />
        <Figure label="Approvals accepted" value={e.acceptance.text} why={e.acceptance.why} detail={e.acceptanceDetail} />
        <Figure
          label="Mean annotation score (0–1)"
          value={e.annotationScore.text}
          why={e.annotationScore.why}
          detail={e.annotationDetail}
        />
        <Figure
          label="Mean quality score (0–1)"
          value={e.quality.text}
          why={e.quality.why}
          detail="the workflow's own score of each finished run"
        />
      </div>
      {trend((r) => (
        <ChartFrame
          title={`Effectiveness per ${bucket}`}
          caption="Rates in percent (left axis); the quality score on its 0–1 scale (right axis). Gaps: nothing measured."
          rows={r}
          columns={[
            { key: "label", label: bucket === "week" ? "Week" : "Day" },
            { key: "withoutEditPct", label: "Without edits", numeric: true, format: (v) => pct(v) },
            { key: "acceptancePct", label: "Approvals accepted", numeric: true, format: (v) => pct(v) },
            { key: "quality", label: "Quality", numeric: true, format: (v) => formatScore(v as number | null) },
          ]}
          empty={
            hasValues(r, "withoutEditPct", "acceptancePct", "quality")
              ? null
              : "Nothing finished, was decided or was scored in this period."
          }
        >
          <RateLines
            rows={r}
            series={[
              { key: "withoutEditPct", name: "Succeeded without edits (%)", color: CHART.accent },
              { key: "acceptancePct", name: "Approvals accepted (%)", color: CHART.second, dashed: true },
              { key: "quality", name: "Quality score (0–1)", color: CHART.third, axis: "right" },
            ]}
          />
        </ChartFrame>
      ))}
    </Section>
  );
}

function StaffSection({ figures, trend, bucket }: { figures: OutcomeFigures; trend: Trend; bucket: Bucket }) {
  const s = staffShown(figures);
  return (
    <Section
      id="outcome-staff"
      title="Staff hours relieved"
      lead="The time your team would have spent doing this by hand, less the time people still spent on it (reviews, approvals, rework)."
    >
      <div className="figure-grid">
        <Figure label="Hours relieved" value={s.hours.text} why={s.hours.why} detail={s.measured} tone={s.hours.why ? undefined : "ok"} />
        <Figure label="By hand it would have taken" value={s.hours.why ? "—" : s.baseline} detail="the manifest's minutes per task × runs" />
        <Figure label="People still spent" value={s.hours.why ? "—" : s.spent} detail="reviews and hand work on these runs" />
      </div>
      {trend((r) => (
        <ChartFrame
          title={`Staff hours per ${bucket}`}
          caption="Hours saved, and the hours people still spent."
          rows={r}
          columns={[
            { key: "label", label: bucket === "week" ? "Week" : "Day" },
            { key: "baselineHours", label: "By hand (h)", numeric: true },
            { key: "staffHours", label: "Spent (h)", numeric: true },
            { key: "hoursSaved", label: "Saved (h)", numeric: true },
          ]}
          empty={hasNonZero(r, "hoursSaved", "staffHours", "baselineHours") ? null : "No run recorded its staff time in this period."}
        >
          <HoursBars
            rows={r}
            series={[
              { key: "hoursSaved", name: "Hours saved", color: CHART.ok },
              { key: "staffHours", name: "Hours people spent", color: CHART.idle },
            ]}
          />
        </ChartFrame>
      ))}
    </Section>
  );
}

function CustomerSection({ figures, trend, bucket }: { figures: OutcomeFigures; trend: Trend; bucket: Bucket }) {
  const c = cxShown(figures);
  return (
    <Section
      id="outcome-cx"
      title="Customer experience"
      lead="How long your customer waited for the outcome, against the manual process, and how they felt about it."
    >
      <div className="figure-grid">
        <Figure label="Customer wait, median" value={c.p50.text} why={c.p50.why} detail={c.comparison ?? undefined} tone={c.comparison?.includes("faster") ? "ok" : undefined} />
        <Figure label="Customer wait, 90th percentile" value={c.p90.text} why={c.p90.why} detail="9 in 10 customers waited no longer" />
        <Figure label="Manual process" value={c.manual.text} why={c.manual.why} detail="what a customer waits without the automation" />
        <Figure label="Customer-experience score (0–1)" value={c.score.text} why={c.score.why} detail={c.scoreDetail} />
      </div>
      {c.labels.length > 0 ? (
        <div className="cx-labels">
          <h3>What customers said (labels)</h3>
          <ul className="chip-list">
            {c.labels.map((l) => (
              <li key={l.label} className="chip">
                {l.label} <span className="chip-count">{l.count.toLocaleString()}</span>
              </li>
            ))}
          </ul>
        </div>
      ) : (
        <p className="muted small">No customer-experience labels (“cx:…”) in this period.</p>
      )}
      {trend((r) => (
        <ChartFrame
          title={`Customer wait per ${bucket}`}
          caption={
            figures.customer_experience.manual_baseline_seconds
              ? `By hand, a customer waits about ${formatDuration(figures.customer_experience.manual_baseline_seconds)}.`
              : "Median and 90th percentile."
          }
          rows={r}
          columns={[
            { key: "label", label: bucket === "week" ? "Week" : "Day" },
            { key: "cxP50", label: "Median", numeric: true, format: (v) => formatDuration(v as number | null) },
            { key: "cxP90", label: "90th percentile", numeric: true, format: (v) => formatDuration(v as number | null) },
          ]}
          empty={hasValues(r, "cxP50", "cxP90") ? null : "No run measured the customer's wait in this period."}
        >
          <DurationLines
            rows={r}
            series={[
              { key: "cxP50", name: "Median", color: CHART.accent },
              { key: "cxP90", name: "90th percentile", color: CHART.second, dashed: true },
            ]}
          />
        </ChartFrame>
      ))}
    </Section>
  );
}

function TurnaroundSection({ figures, trend, bucket }: { figures: OutcomeFigures; trend: Trend; bucket: Bucket }) {
  const t = turnaroundShown(figures);
  return (
    <Section
      id="outcome-turnaround"
      title="Turnaround time"
      lead="From the trigger to done, for runs that succeeded (approval waits included)."
    >
      <div className="figure-grid">
        <Figure label="Median" value={t.p50.text} why={t.p50.why} detail={t.detail} />
        <Figure label="95th percentile" value={t.p95.text} why={t.p95.why} detail="19 in 20 runs were done within this" />
      </div>
      {trend((r) => (
        <ChartFrame
          title={`Turnaround per ${bucket}`}
          rows={r}
          columns={[
            { key: "label", label: bucket === "week" ? "Week" : "Day" },
            { key: "turnaroundP50", label: "Median", numeric: true, format: (v) => formatDuration(v as number | null) },
            { key: "turnaroundP95", label: "95th percentile", numeric: true, format: (v) => formatDuration(v as number | null) },
          ]}
          empty={hasValues(r, "turnaroundP50", "turnaroundP95") ? null : "No run succeeded in this period."}
        >
          <DurationLines
            rows={r}
            series={[
              { key: "turnaroundP50", name: "Median", color: CHART.accent },
              { key: "turnaroundP95", name: "95th percentile", color: CHART.second, dashed: true },
            ]}
          />
        </ChartFrame>
      ))}
    </Section>
  );
}

function WorkflowTable({ workflows, choose }: { workflows: WorkflowOutcomes[]; choose: (w: string) => void }) {
  return (
    <section className="panel" aria-labelledby="outcome-workflows">
      <h2 id="outcome-workflows">By workflow</h2>
      <div className="table-scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Workflow</th>
              <th scope="col" className="num">
                Runs
              </th>
              <th scope="col" className="num">
                Without edits
              </th>
              <th scope="col" className="num">
                Hours relieved
              </th>
              <th scope="col" className="num">
                Turnaround (median)
              </th>
              <th scope="col">Time to benefit</th>
            </tr>
          </thead>
          <tbody>
            {workflows.map((w) => {
              const f = w.figures;
              return (
                <tr key={w.workflow}>
                  <th scope="row">
                    <button type="button" className="link-button" onClick={() => choose(w.workflow)}>
                      {w.workflow}
                    </button>
                    {w.description ? <div className="muted small">{w.description}</div> : null}
                  </th>
                  <td className="num">{f.runs.toLocaleString()}</td>
                  <td className="num">{formatPercent(f.effectiveness.succeeded_without_edit_rate)}</td>
                  <td className="num">{f.staff.measured_runs ? formatHoursValue(f.staff.hours_relieved) : "—"}</td>
                  <td className="num">{formatDuration(f.turnaround.p50_seconds)}</td>
                  <td>{benefitShown(w.time_to_benefit).headline}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <p className="muted small">Choose a workflow to see its figures and trend alone. “—”: not measured in this period.</p>
    </section>
  );
}

function pct(v: unknown): string {
  return typeof v === "number" ? `${v}%` : "—";
}
