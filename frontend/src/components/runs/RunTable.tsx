"use client";

import Link from "next/link";

import { StatusBadge } from "@/components/StatusBadge";
import type { Schemas } from "@/lib/api/client";
import { formatDateTime, formatDuration, formatRelative } from "@/lib/format";
import { isMoving } from "@/lib/runFilters";
import { runDurationSeconds, runHref, shortId } from "@/lib/runView";

import styles from "./runs.module.css";

type RunSummary = Schemas["RunSummary"];

function Where({ run }: { run: RunSummary }) {
  if (run.status === "failed") {
    return (
      <>
        {run.failed_node ? <span>in {run.failed_node}</span> : null}
        {run.error_type ? <span className={styles.errorText}>{run.error_type}</span> : null}
      </>
    );
  }
  if (isMoving(run.status) && run.current_node) return <span>at {run.current_node}</span>;
  return <span className="muted">—</span>;
}

/** One page of runs, newest first; each row opens the run. */
export function RunTable({ runs, now }: { runs: RunSummary[]; now: Date }) {
  return (
    <div className={styles.tableWrap}>
      <table>
        <caption className={styles.visuallyHidden}>Runs, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">Workflow</th>
            <th scope="col">Status</th>
            <th scope="col">Node</th>
            <th scope="col">Started by</th>
            <th scope="col">Created</th>
            <th scope="col" className="num">
              Duration
            </th>
          </tr>
        </thead>
        <tbody>
          {runs.map((run) => {
            const seconds = run.started_at ? runDurationSeconds(run, now) : null;
            return (
              <tr key={run.id} data-run-id={run.id} data-status={run.status}>
                <td>
                  <Link href={runHref(run.id)} className={styles.mono}>
                    <span className={styles.visuallyHidden}>Run </span>
                    {shortId(run.id)}
                  </Link>
                  {run.rerun_of ? <span className={styles.sub}>re-run of {shortId(run.rerun_of)}</span> : null}
                </td>
                <td>
                  {run.workflow}
                  <span className={styles.sub}>v{run.workflow_version}</span>
                </td>
                <td>
                  <StatusBadge status={run.status} />
                </td>
                <td>
                  <Where run={run} />
                </td>
                <td>{run.trigger_source}</td>
                <td>
                  <time dateTime={run.created_at} title={new Date(run.created_at).toString()}>
                    {formatDateTime(run.created_at)}
                  </time>
                  <span className={styles.sub}>{formatRelative(run.created_at, now)}</span>
                </td>
                <td className="num">
                  {seconds === null ? "—" : formatDuration(seconds)}
                  {isMoving(run.status) && seconds !== null ? <span className={styles.sub}>so far</span> : null}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
