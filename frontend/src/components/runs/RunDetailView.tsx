"use client";

import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { useEffect, useMemo, useState } from "react";

import { useSession } from "@/components/SessionProvider";
import { StatusBadge, statusLabel } from "@/components/StatusBadge";
import { Empty, ErrorPanel, Loading } from "@/components/states";
import { call, type Schemas } from "@/lib/api/client";
import { formatDateTime, formatDuration, formatMs } from "@/lib/format";
import { isMoving } from "@/lib/runFilters";
import {
  failureOf,
  isUuid,
  nodeStatusInfo,
  retriesByNode,
  runDurationSeconds,
  runHref,
  shortId,
  type Run,
} from "@/lib/runView";
import { useApi } from "@/lib/useApi";

import { RunActions } from "./RunActions";
import { AnnotationForm, AnnotationList } from "./RunAnnotations";
import { RunApprovals } from "./RunApprovals";
import { GraphLegend, RunGraph } from "./RunGraph";
import { RunOutcome } from "./RunOutcome";
import { RunTimeline } from "./RunTimeline";
import { RunTrace } from "./RunTrace";
import styles from "./runs.module.css";

/** While the run can still change, the page reloads it this often. */
const LIVE_MS = 3_000;
const stillMoving = (run: Run) => isMoving(run.status);

function BackToRuns() {
  return (
    <Link href="/runs/" className={styles.back}>
      ← All runs
    </Link>
  );
}

function RunNotFound({ id }: { id: string }) {
  return (
    <>
      <BackToRuns />
      <div data-testid="run-not-found">
        <Empty title="Run not found">
          <p>
            {id ? (
              <>
                There is no run <code className="long-text">{id}</code> for your account.
              </>
            ) : (
              <>No run was named in the address.</>
            )}{" "}
            The link may be mistyped or cut short, or the run may belong to another account.
          </p>
          <Link href="/runs/">See all runs</Link>
        </Empty>
      </div>
    </>
  );
}

function Facts({ run, retries }: { run: Run; retries: number }) {
  // "Running for" counts up between loads.
  const moving = isMoving(run.status);
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    setNow(new Date());
    if (!moving) return;
    const timer = window.setInterval(() => setNow(new Date()), 1_000);
    return () => window.clearInterval(timer);
  }, [run, moving]);
  const seconds = run.started_at || run.finished_at ? runDurationSeconds(run, now) : null;
  return (
    <dl className={styles.facts}>
      <div>
        <dt>Run id</dt>
        <dd className={styles.mono}>{run.id}</dd>
      </div>
      <div>
        <dt>Workflow version</dt>
        <dd>{run.workflow_version}</dd>
      </div>
      <div>
        <dt>Started by</dt>
        <dd>{run.trigger_source}</dd>
      </div>
      <div>
        <dt>Trigger id</dt>
        <dd className={styles.mono}>{run.idempotency_key}</dd>
      </div>
      <div>
        <dt>Created</dt>
        <dd>
          <time dateTime={run.created_at}>{formatDateTime(run.created_at)}</time>
        </dd>
      </div>
      <div>
        <dt>Finished</dt>
        <dd>{run.finished_at ? <time dateTime={run.finished_at}>{formatDateTime(run.finished_at)}</time> : "not yet"}</dd>
      </div>
      <div>
        <dt>{run.finished_at ? "Took" : "Running for"}</dt>
        <dd>{seconds === null ? "—" : formatDuration(seconds)}</dd>
      </div>
      <div>
        <dt>{isMoving(run.status) ? "Now at" : "Last node"}</dt>
        <dd>{run.current_node ?? "—"}</dd>
      </div>
      <div>
        <dt>Retries</dt>
        <dd>{retries}</dd>
      </div>
      {run.rerun_of ? (
        <div>
          <dt>Started again from</dt>
          <dd>
            <Link href={runHref(run.rerun_of)}>run {shortId(run.rerun_of)}</Link>
          </dd>
        </div>
      ) : null}
    </dl>
  );
}

function NodeTable({ run, retries }: { run: Run; retries: Record<string, number> }) {
  return (
    <details className={styles.nodeTable}>
      <summary>The graph as a table</summary>
      <table>
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">Status</th>
            <th scope="col" className="num">
              Took
            </th>
            <th scope="col" className="num">
              Retries
            </th>
            <th scope="col">Error</th>
          </tr>
        </thead>
        <tbody>
          {run.graph.nodes.map((n) => {
            const info = nodeStatusInfo(n.status);
            return (
              <tr key={n.name}>
                <td>{n.name}</td>
                <td>
                  <span aria-hidden="true">{info.symbol}</span> {info.label}
                </td>
                <td className="num">{formatMs(n.duration_ms)}</td>
                <td className="num">{retries[n.name] ?? 0}</td>
                <td className="long-text">
                  {n.error_type ? (
                    <>
                      <strong>{n.error_type}</strong>
                      {n.error_message ? `: ${n.error_message}` : ""}
                    </>
                  ) : (
                    "—"
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </details>
  );
}

function SideEffects({ effects }: { effects: Schemas["OutboxOut"][] }) {
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Node</th>
          <th scope="col">Kind</th>
          <th scope="col">Status</th>
          <th scope="col">Queued</th>
        </tr>
      </thead>
      <tbody>
        {effects.map((e) => (
          <tr key={e.key}>
            <td>{e.node}</td>
            <td>{e.kind}</td>
            <td>{statusLabel(e.status)}</td>
            <td>{formatDateTime(e.created_at)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Deliveries({ deliveries }: { deliveries: Schemas["CallbackDeliveryOut"][] }) {
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Event</th>
          <th scope="col">Status</th>
          <th scope="col" className="num">
            Attempts
          </th>
          <th scope="col">Last answer</th>
          <th scope="col">Sent to</th>
        </tr>
      </thead>
      <tbody>
        {deliveries.map((d) => (
          <tr key={d.id}>
            <td>{d.event_type}</td>
            <td>
              <StatusBadge status={d.status === "delivered" ? "succeeded" : d.status} />
            </td>
            <td className="num">{d.attempts}</td>
            <td className="long-text">
              {d.last_status_code ? `HTTP ${d.last_status_code}` : ""}
              {d.last_error ? ` ${d.last_error}` : ""}
              {!d.last_status_code && !d.last_error ? "—" : ""}
            </td>
            <td className="long-text">{d.url}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function RunDetail({ run, reload, pollError }: { run: Run; reload: () => void; pollError: string | null }) {
  const { can } = useSession();
  const operator = can("operator");
  const retries = useMemo(() => retriesByNode(run.events), [run.events]);
  const totalRetries = Object.values(retries).reduce((a, b) => a + b, 0);
  const failure = failureOf(run);
  const moving = isMoving(run.status);

  return (
    <>
      <BackToRuns />
      <div className={styles.header}>
        <h1>
          {run.workflow} <span className="muted">run {shortId(run.id)}</span>
        </h1>
        <StatusBadge status={run.status} />
        {moving ? (
          <span className={styles.live}>
            <span className={styles.liveDot} aria-hidden="true" /> Live: updating every {LIVE_MS / 1000} s
          </span>
        ) : null}
        <span className={styles.headerEnd}>
          <button type="button" className="secondary" onClick={reload}>
            Refresh
          </button>
        </span>
      </div>
      {pollError ? (
        <div className={styles.inlineNotice} role="alert">
          Could not refresh this run: {pollError}
          <button type="button" className="secondary" onClick={reload}>
            Try again
          </button>
        </div>
      ) : null}

      <section className={styles.section} aria-label="Summary">
        <Facts run={run} retries={totalRetries} />
      </section>

      {failure ? (
        <section className={`${styles.section} ${styles.failure}`} aria-labelledby="run-failure" data-testid="run-failure">
          <h2 id="run-failure">
            <span aria-hidden="true">✕</span> Why it failed
          </h2>
          <dl className={styles.facts}>
            <div>
              <dt>Failed node</dt>
              <dd>{failure.node ?? "—"}</dd>
            </div>
            <div>
              <dt>Error type</dt>
              <dd>{failure.type ?? "—"}</dd>
            </div>
          </dl>
          {failure.message ? <p className={styles.message}>{failure.message}</p> : null}
        </section>
      ) : null}

      {operator ? (
        <section className={styles.section} aria-labelledby="run-actions">
          <h2 id="run-actions">Actions</h2>
          <RunActions run={run} onChanged={reload} />
        </section>
      ) : null}

      <section className={styles.section} aria-labelledby="run-graph-title">
        <h2 id="run-graph-title">State graph</h2>
        <GraphLegend />
        <RunGraph run={run} retries={retries} />
        <NodeTable run={run} retries={retries} />
      </section>

      {run.approvals.length ? (
        <section className={styles.section} aria-labelledby="run-approvals">
          <h2 id="run-approvals">Approval {run.approvals.length === 1 ? "decision" : "decisions"}</h2>
          <RunApprovals approvals={run.approvals} />
        </section>
      ) : null}

      {run.outcome ? (
        <section className={styles.section} aria-labelledby="run-outcome">
          <h2 id="run-outcome">Outcome: before and after</h2>
          <RunOutcome outcome={run.outcome} />
        </section>
      ) : null}

      <section className={styles.section} aria-labelledby="run-trace">
        <h2 id="run-trace">Trace</h2>
        <p className={styles.sectionNote}>
          The API request, the Step Functions execution, each node with the business event it served, and each model
          call, on one time axis.
        </p>
        <RunTrace runId={run.id} version={`${run.status}|${run.events.length}`} />
      </section>

      <section className={styles.section} aria-labelledby="run-timeline">
        <h2 id="run-timeline">Timeline</h2>
        <RunTimeline run={run} />
      </section>

      <section className={styles.section} aria-labelledby="run-annotations">
        <h2 id="run-annotations">Annotations</h2>
        <AnnotationList annotations={run.annotations} />
        {operator ? (
          <AnnotationForm runId={run.id} nodes={run.graph.nodes.map((n) => n.name)} onAdded={reload} />
        ) : null}
      </section>

      {run.effects.length ? (
        <section className={styles.section} aria-labelledby="run-effects">
          <h2 id="run-effects">Side effects</h2>
          <p className={styles.sectionNote}>What the run did in other systems, each done once even when a node is retried.</p>
          <SideEffects effects={run.effects} />
        </section>
      ) : null}

      {run.deliveries.length ? (
        <section className={styles.section} aria-labelledby="run-deliveries">
          <h2 id="run-deliveries">Callbacks</h2>
          <p className={styles.sectionNote}>The signed notifications sent about this run.</p>
          <Deliveries deliveries={run.deliveries} />
        </section>
      ) : null}
    </>
  );
}

/** One run: `/runs/detail/?id=<uuid>`. */
export function RunDetailView() {
  const params = useSearchParams();
  const id = (params.get("id") ?? "").trim();
  const valid = isUuid(id);
  const run = useApi(
    valid ? `run:${id.toLowerCase()}` : null,
    () => call((api) => api.GET("/v1/runs/{run_id}", { params: { path: { run_id: id } } })),
    { refreshMs: LIVE_MS, keepRefreshing: stillMoving },
  );

  const title = run.data ? `${run.data.workflow} run ${shortId(run.data.id)} · Flightdeck` : null;
  useEffect(() => {
    if (!title) return;
    const before = document.title;
    document.title = title;
    return () => {
      document.title = before;
    };
  }, [title]);

  if (!valid) return <RunNotFound id={id} />;
  if (!run.data) {
    if (run.error && (run.error.status === 404 || run.error.status === 422)) return <RunNotFound id={id} />;
    if (run.error) return <ErrorPanel error={run.error} retry={run.reload} />;
    return <Loading what="Loading the run" />;
  }
  return <RunDetail run={run.data} reload={run.reload} pollError={run.error ? run.error.message : null} />;
}
