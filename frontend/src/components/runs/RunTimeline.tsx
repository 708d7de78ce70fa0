"use client";

import Link from "next/link";

import { formatDuration, formatMs } from "@/lib/format";
import { runHref, shortId, timelineRows, type Run, type Tone } from "@/lib/runView";

import styles from "./runs.module.css";

const SYMBOL: Record<Tone, string> = { ok: "✓", info: "▶", warn: "◷", bad: "✕", halt: "⊘", idle: "○" };

function clock(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? "—"
    : d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** Every event of the run, oldest first: what happened, when (clock time and time since the run
 * was created), how long a node took, which attempt, and any error. */
export function RunTimeline({ run }: { run: Run }) {
  const rows = timelineRows(run);
  if (rows.length === 0) return <p className="muted">No events recorded yet.</p>;
  return (
    <ol className={styles.timeline} aria-label="Events, oldest first">
      {rows.map((row) => (
        <li key={row.id} className={styles[`tone-${row.tone}`]} data-event-type={row.type}>
          <span className={styles.when}>
            <time dateTime={row.at} title={new Date(row.at).toString()}>
              {clock(row.at)}
            </time>
            {row.offsetSeconds !== null ? <span className={styles.sub}>+{formatDuration(row.offsetSeconds)}</span> : null}
          </span>
          <span className={styles.what}>
            <span className={styles.timelineSymbol} aria-hidden="true">
              {row.type === "node.retried" ? "↻" : SYMBOL[row.tone]}
            </span>
            <strong>{row.title}</strong>
            {row.detail ? <span className="muted"> — {row.detail}</span> : null}
            {row.linkedRunId ? (
              <>
                {" "}
                <Link href={runHref(row.linkedRunId)}>open run {shortId(row.linkedRunId)}</Link>
              </>
            ) : null}
            {row.error ? (
              <span className={styles.errorText}>
                {row.error.type ? <strong>{row.error.type}</strong> : null}
                {row.error.type && row.error.message ? ": " : null}
                {row.error.message}
              </span>
            ) : null}
          </span>
          <span className={styles.figures}>
            {row.durationMs !== null ? <span>took {formatMs(row.durationMs)}</span> : null}
            {row.attempt !== null && row.type.startsWith("node.") ? (
              <span className={`${styles.sub} ${row.attempt > 1 ? styles.retry : ""}`}>
                attempt {row.attempt}
                {row.attempt > 1 ? ` (retry ${row.attempt - 1})` : ""}
              </span>
            ) : null}
          </span>
        </li>
      ))}
    </ol>
  );
}
