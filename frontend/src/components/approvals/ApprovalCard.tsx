"use client";

import Link from "next/link";
import { useEffect, useId, useMemo, useRef, useState, type FormEvent } from "react";

import { SchemaForm } from "@/components/approvals/SchemaForm";
import { StatusBadge, statusLabel } from "@/components/StatusBadge";
import { ApiError, call } from "@/lib/api/client";
import {
  decideBlocker,
  decisionPast,
  decisionRefusal,
  keepWatching,
  requestView,
  timing,
  type Approval,
  type Decision,
} from "@/lib/approvals";
import { formatDateTime } from "@/lib/format";
import { formatActor } from "@/lib/runView";
import { apiFieldErrors, buildPayload, fieldsOf, initialValues, type Errors, type Values } from "@/lib/schemaForm";

type Role = "viewer" | "operator" | "admin";

interface Result {
  decision: Decision;
  status: string;
  runId: string;
  at: number;
}

/** Refusals after which this request cannot be decided from here any more. */
const FINAL = new Set([403, 404, 409, 410]);

/**
 * One request of the inbox: what is asked and why, the deadline, and — for a role that may
 * decide it — approve, reject, or edit-and-approve through a form built from its edit schema.
 * After a decision the card stays, showing the run's status as it moves.
 */
export function ApprovalCard({
  approval: a,
  workflow,
  role,
  now,
  inList,
  onSettled,
  onDismiss,
}: {
  approval: Approval;
  workflow: string | undefined;
  role: Role;
  now: Date;
  /** False once the request has left the inbox (decided here or elsewhere). */
  inList: boolean;
  /** Decided, or refused for good: the page keeps the card until dismissed. */
  onSettled: (approval: Approval) => void;
  onDismiss: (id: string) => void;
}) {
  const id = useId();
  const view = useMemo(() => requestView(a.request), [a.request]);
  const fields = useMemo(() => (view.editSchema ? fieldsOf(view.editSchema, view.draft) : []), [view]);
  const [editing, setEditing] = useState(false);
  const [values, setValues] = useState<Values>(() => initialValues(fields, view.draft, view.editSchema));
  const [errors, setErrors] = useState<Errors>({});
  const [comment, setComment] = useState("");
  const [busy, setBusy] = useState<Decision | null>(null);
  const [refusal, setRefusal] = useState<{ status: number; title: string; detail: string | null } | null>(null);
  const [result, setResult] = useState<Result | null>(null);
  /** The request as it is now, read again after a refusal (who decided it, and how). */
  const [current, setCurrent] = useState<Approval | null>(null);
  const feedback = useRef<HTMLDivElement>(null);
  const firstField = useRef<string | null>(null);

  const t = timing(a, now);
  const blocker = decideBlocker(role, a.status);
  const finalRefusal = refusal !== null && FINAL.has(refusal.status);
  const canDecide = !blocker && !result && !finalRefusal && inList && t.urgency !== "expired";

  useEffect(() => {
    if (result || refusal) feedback.current?.focus();
  }, [result, refusal]);

  useEffect(() => {
    // After opening the form, or after a check failed: the first field that needs attention.
    if (!editing || firstField.current === null) return;
    document.getElementById(`${id}-field-${firstField.current || "value"}`)?.focus();
    firstField.current = null;
  });

  async function decide(decision: Decision, payload?: unknown) {
    setBusy(decision);
    setRefusal(null);
    try {
      const trimmed = comment.trim();
      const out = await call((api) =>
        api.POST("/v1/approvals/{approval_id}/decision", {
          params: { path: { approval_id: a.id } },
          body: { decision, ...(decision === "edit" ? { payload } : {}), ...(trimmed ? { comment: trimmed } : {}) },
        }),
      );
      setResult({ decision, status: out.status, runId: out.run_id, at: Date.now() });
      setEditing(false);
      onSettled(a);
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(0, String(e));
      const words = err.unreachable
        ? { title: "The decision was not sent: the API cannot be reached.", detail: "Nothing was decided. Try again." }
        : decisionRefusal(err.status, err.message);
      setRefusal({ status: err.status, ...words });
      if (err.status === 422 && decision === "edit") {
        const mapped = apiFieldErrors(fields, err.problem?.errors);
        setErrors(mapped.byField);
        const first = Object.keys(mapped.byField)[0];
        if (first !== undefined) firstField.current = first;
      }
      if (FINAL.has(err.status)) {
        onSettled(a);
        if (err.status === 409 || err.status === 410) {
          call((api) => api.GET("/v1/approvals/{approval_id}", { params: { path: { approval_id: a.id } } }))
            .then(setCurrent)
            .catch(() => undefined);
        }
      }
    } finally {
      setBusy(null);
    }
  }

  function startEdit() {
    setEditing(true);
    setRefusal(null);
    firstField.current = fields[0]?.name ?? null;
  }

  function submitEdit(event: FormEvent) {
    event.preventDefault();
    const built = buildPayload(fields, values);
    setErrors(built.errors);
    const first = fields.find((f) => built.errors[f.name]);
    if (first) {
      firstField.current = first.name;
      return;
    }
    void decide("edit", built.payload);
  }

  const headingId = `${id}-title`;

  return (
    <article
      className={`approval-card${a.status === "escalated" ? " escalated" : ""}${inList ? "" : " settled"} urgency-${t.urgency}`}
      aria-labelledby={headingId}
    >
      <header className="approval-head">
        <h2 id={headingId}>{view.summary ?? `Approval asked at step “${a.node}”`}</h2>
        <StatusBadge status={result?.status ?? current?.status ?? a.status} />
      </header>

      <dl className="approval-meta">
        <div>
          <dt>Workflow</dt>
          <dd>{workflow ?? <span className="muted">loading…</span>}</dd>
        </div>
        <div>
          <dt>Step</dt>
          <dd>
            <code>{a.node}</code>
          </dd>
        </div>
        <div>
          <dt>Run</dt>
          <dd>
            <Link href={`/runs/detail/?id=${encodeURIComponent(a.run_id)}`}>
              <span className="visually-hidden">Open run </span>
              <code>{a.run_id.slice(0, 8)}</code>
            </Link>
          </dd>
        </div>
        <div>
          <dt>Asked</dt>
          <dd title={formatDateTime(a.created_at)}>{t.age}</dd>
        </div>
        <div>
          <dt>Deadline</dt>
          <dd className={`deadline deadline-${t.urgency}`}>
            {t.urgency === "soon" ? <span aria-hidden="true">⚠ </span> : null}
            {t.left} <span className="muted small">({formatDateTime(a.expires_at)})</span>
          </dd>
        </div>
      </dl>

      {a.status === "escalated" ? (
        <p className="escalated-note">
          <span aria-hidden="true">⚑ </span>Escalated: nobody decided before the first deadline, so it went to
          admins.
        </p>
      ) : null}

      {view.reasons.length ? (
        <div className="approval-reasons">
          <h3>Why a person is asked</h3>
          <ul>
            {view.reasons.map((r, i) => (
              <li key={i}>{r}</li>
            ))}
          </ul>
        </div>
      ) : null}

      {view.hasDraft && !editing ? (
        <div className="approval-draft">
          <h3>What the workflow proposes</h3>
          <DraftView draft={view.draft} />
        </div>
      ) : null}

      {view.raw !== undefined ? (
        <div className="approval-draft">
          <h3>Request</h3>
          <DraftView draft={view.raw} />
        </div>
      ) : null}

      {Object.keys(view.rest).length ? (
        <details className="approval-more">
          <summary>More in this request</summary>
          <pre>{JSON.stringify(view.rest, null, 2)}</pre>
        </details>
      ) : null}

      {/* A viewer is told once, above the inbox; an operator per escalated request. */}
      {blocker && !result && role !== "viewer" ? <p className="notice">{blocker}</p> : null}

      {!blocker && !result && !finalRefusal && inList && t.urgency === "expired" ? (
        <p className="notice">The deadline has passed: the workflow&apos;s default action applies shortly.</p>
      ) : null}

      {canDecide ? (
        editing ? (
          <form className="decision-form" onSubmit={submitEdit} noValidate aria-label="Edit, then approve">
            <h3>Edit, then approve</h3>
            <SchemaForm
              idPrefix={`${id}-field`}
              fields={fields}
              values={values}
              errors={errors}
              disabled={busy !== null}
              onChange={(name, v) => {
                setValues((old) => ({ ...old, [name]: v }));
                if (errors[name]) setErrors(({ [name]: _drop, ...rest }) => rest);
              }}
            />
            <CommentField id={id} value={comment} onChange={setComment} disabled={busy !== null} />
            <div className="decision-actions">
              <button type="submit" disabled={busy !== null}>
                {busy === "edit" ? "Sending…" : "Approve with these edits"}
              </button>
              <button
                type="button"
                className="secondary"
                disabled={busy !== null}
                onClick={() => {
                  setEditing(false);
                  setErrors({});
                }}
              >
                Cancel editing
              </button>
            </div>
          </form>
        ) : (
          <div className="decision-form">
            <CommentField id={id} value={comment} onChange={setComment} disabled={busy !== null} />
            <div className="decision-actions" role="group" aria-label="Decide">
              <button type="button" disabled={busy !== null} onClick={() => void decide("approve")}>
                {busy === "approve" ? "Approving…" : "Approve"}
              </button>
              {fields.length ? (
                <button type="button" className="secondary" disabled={busy !== null} onClick={startEdit}>
                  Edit, then approve…
                </button>
              ) : null}
              <button type="button" className="danger" disabled={busy !== null} onClick={() => void decide("reject")}>
                {busy === "reject" ? "Rejecting…" : "Reject"}
              </button>
            </div>
          </div>
        )
      ) : null}

      {refusal ? (
        <div className="decision-refusal" role="alert" tabIndex={-1} ref={result ? undefined : feedback}>
          <strong>{refusal.title}</strong>
          {refusal.detail ? <p className="small">{refusal.detail}</p> : null}
          {current && current.decided_at ? (
            <p className="small">
              {statusLabel(current.status)[0].toUpperCase() + statusLabel(current.status).slice(1)} by{" "}
              {formatActor(current.decided_by)} on {formatDateTime(current.decided_at)}.
            </p>
          ) : null}
        </div>
      ) : null}

      {result ? <DecisionResult result={result} focusRef={feedback} /> : null}

      {!inList ? (
        <div className="settled-foot">
          <span className="muted small">No longer waiting in the inbox.</span>
          <button type="button" className="link-button" onClick={() => onDismiss(a.id)}>
            Dismiss
          </button>
        </div>
      ) : null}
    </article>
  );
}

function CommentField({
  id,
  value,
  onChange,
  disabled,
}: {
  id: string;
  value: string;
  onChange: (v: string) => void;
  disabled: boolean;
}) {
  return (
    <div className="schema-field">
      <label htmlFor={`${id}-comment`}>
        Comment <span className="field-marker">(optional)</span>
      </label>
      <textarea
        id={`${id}-comment`}
        rows={2}
        maxLength={2000}
        value={value}
        disabled={disabled}
        onChange={(e) => onChange(e.target.value)}
        aria-describedby={`${id}-comment-hint`}
      />
      <p className="field-hint" id={`${id}-comment-hint`}>
        Kept with the decision in the run&apos;s audit trail.
      </p>
    </div>
  );
}

/** The decision, then the run's status as it moves (polled for a few seconds). */
function DecisionResult({ result, focusRef }: { result: Result; focusRef: React.RefObject<HTMLDivElement | null> }) {
  const [runStatus, setRunStatus] = useState<string | null>(null);
  const [watching, setWatching] = useState(true);
  const [lookError, setLookError] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    let timer: number | undefined;
    async function look() {
      let status: string | null = null;
      try {
        const run = await call((api) => api.GET("/v1/runs/{run_id}", { params: { path: { run_id: result.runId } } }));
        status = run.status;
        if (cancelled) return;
        setRunStatus(status);
        setLookError(null);
      } catch (e) {
        if (cancelled) return;
        setLookError(e instanceof ApiError ? e.message : String(e));
      }
      if (keepWatching(status, result.at, Date.now())) timer = window.setTimeout(look, 1000);
      else setWatching(false);
    }
    void look();
    return () => {
      cancelled = true;
      window.clearTimeout(timer);
    };
  }, [result.runId, result.at]);

  const href = `/runs/detail/?id=${encodeURIComponent(result.runId)}`;
  return (
    <div className="decision-result" role="status" tabIndex={-1} ref={focusRef}>
      <p>
        <span aria-hidden="true">✓ </span>
        <strong>{decisionPast(result.decision)}.</strong> Run status:{" "}
        {runStatus ? <StatusBadge status={runStatus} /> : <span className="muted">checking…</span>}
        {watching ? <span className="muted small"> (watching)</span> : null}
      </p>
      {!watching && (runStatus === "running" || runStatus === "queued") ? (
        <p className="small">Still running. Open the run to follow it.</p>
      ) : null}
      {lookError ? <p className="small form-error">The run&apos;s status could not be read: {lookError}</p> : null}
      <p className="small">
        <Link href={href}>Open the run</Link>
      </p>
    </div>
  );
}

/** What the workflow proposes: fields of an object as a list, text kept as written. */
function DraftView({ draft }: { draft: unknown }) {
  if (typeof draft === "string") return <p className="long-text draft-text">{draft}</p>;
  if (typeof draft !== "object" || draft === null || Array.isArray(draft)) {
    return <pre>{JSON.stringify(draft, null, 2)}</pre>;
  }
  return (
    <dl className="draft-fields">
      {Object.entries(draft as Record<string, unknown>).map(([k, v]) => (
        <div key={k}>
          <dt>{k.replace(/_/g, " ")}</dt>
          <dd>
            {typeof v === "string" ? (
              <span className="long-text">{v}</span>
            ) : typeof v === "number" || typeof v === "boolean" ? (
              String(v)
            ) : (
              <pre>{JSON.stringify(v, null, 2)}</pre>
            )}
          </dd>
        </div>
      ))}
    </dl>
  );
}
