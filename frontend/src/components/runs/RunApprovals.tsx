"use client";

import Link from "next/link";

import { StatusBadge } from "@/components/StatusBadge";
import { formatDateTime, formatDuration } from "@/lib/format";
import { approvalView, displayValue, type Approval, type ApprovalView } from "@/lib/runView";

import styles from "./runs.module.css";

const DECISION_WORDS: Record<string, string> = {
  approve: "approve",
  reject: "reject",
  edit: "edit and send",
};

function EditDiff({ view }: { view: ApprovalView }) {
  if (view.changes) {
    return (
      <div className={styles.diff}>
        <table>
          <caption className={styles.visuallyHidden}>What the edit changed, field by field</caption>
          <thead>
            <tr>
              <th scope="col">Field</th>
              <th scope="col">Draft (before)</th>
              <th scope="col">Sent (after)</th>
            </tr>
          </thead>
          <tbody>
            {view.changes.map((c) => (
              <tr key={c.field} className={c.changed ? styles.changed : undefined}>
                <td>
                  {c.field}
                  {c.changed ? <span className={styles.sub}>changed</span> : <span className={styles.sub}>unchanged</span>}
                </td>
                <td className={c.changed ? styles.before : undefined}>{displayValue(c.before)}</td>
                <td className={c.changed ? styles.after : undefined}>{displayValue(c.after)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    );
  }
  return (
    <div className={`${styles.diff} ${styles.sideBySide}`}>
      <div>
        <h4>Draft (before)</h4>
        <pre>{displayValue(view.before)}</pre>
      </div>
      <div>
        <h4>Sent (after)</h4>
        <pre>{displayValue(view.after)}</pre>
      </div>
    </div>
  );
}

function ApprovalItem({ approval }: { approval: Approval }) {
  const view = approvalView(approval);
  const open = view.status === "pending" || view.status === "escalated";
  // A request withdrawn because its run was cancelled: nobody decided it.
  const withdrawn = view.status === "cancelled";
  return (
    <article className={styles.approval} data-approval-status={view.status}>
      <h3>
        Approval at {view.node} <StatusBadge status={view.status} />
      </h3>
      {view.summary ? <p>{view.summary}</p> : null}
      {view.reasons.length ? (
        <>
          <span className="muted">Asked because:</span>
          <ul className={styles.reasons}>
            {view.reasons.map((r, i) => (
              <li key={i}>{r}</li>
            ))}
          </ul>
        </>
      ) : null}
      <dl className={styles.facts}>
        <div>
          <dt>Requested</dt>
          <dd>{formatDateTime(view.requestedAt)}</dd>
        </div>
        {open ? (
          <>
            <div>
              <dt>Waiting for</dt>
              <dd>{formatDuration(view.waitSeconds)}</dd>
            </div>
            <div>
              <dt>Expires</dt>
              <dd>{formatDateTime(view.expiresAt)}</dd>
            </div>
          </>
        ) : (
          <>
            <div>
              <dt>{withdrawn ? "Withdrawn by" : "Decided by"}</dt>
              <dd>{view.decidedBy ?? "—"}</dd>
            </div>
            <div>
              <dt>{withdrawn ? "Withdrawn" : "Decided"}</dt>
              <dd>
                {formatDateTime(view.decidedAt)}
                <span className={styles.sub}>after {formatDuration(view.waitSeconds)}</span>
              </dd>
            </div>
            {withdrawn ? null : (
              <div>
                <dt>Decision</dt>
                <dd>{view.decision ? DECISION_WORDS[view.decision] ?? view.decision : "—"}</dd>
              </div>
            )}
          </>
        )}
      </dl>
      {view.comment ? (
        <p>
          <span className="muted">Comment:</span> <span className="long-text">{view.comment}</span>
        </p>
      ) : null}
      {view.edited ? <EditDiff view={view} /> : null}
      {open ? (
        <p>
          <Link href="/approvals/">Decide it in the approvals inbox</Link>
        </p>
      ) : null}
    </article>
  );
}

/** The run's approval requests: who decided, when, how, and what an edit changed. */
export function RunApprovals({ approvals }: { approvals: Approval[] }) {
  return (
    <>
      {approvals.map((a) => (
        <ApprovalItem key={a.id} approval={a} />
      ))}
    </>
  );
}
