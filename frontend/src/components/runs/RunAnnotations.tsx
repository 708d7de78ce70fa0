"use client";

import { useId, useState, type FormEvent } from "react";

import { ApiError, call, type Schemas } from "@/lib/api/client";
import { formatDateTime } from "@/lib/format";
import { annotationBody, formatActor, type AnnotationDraft } from "@/lib/runView";

import styles from "./runs.module.css";

type Annotation = Schemas["AnnotationOut"];
type Kind = Annotation["kind"];

function AnnotationText({ note }: { note: Annotation }) {
  if (note.kind === "comment") return <div className={styles.noteBody}>{note.body}</div>;
  if (note.kind === "label") return <div className={`${styles.noteBody} ${styles.mono}`}>{note.label}</div>;
  return (
    <div className={styles.noteBody}>
      <strong>{note.score?.toFixed(2)}</strong>
      {note.metric ? <span className="muted"> for {note.metric}</span> : null}
    </div>
  );
}

export function AnnotationList({ annotations }: { annotations: Annotation[] }) {
  if (annotations.length === 0) return <p className="muted">No annotations yet.</p>;
  return (
    <ul className={styles.notes}>
      {annotations.map((note) => (
        <li key={note.id} data-annotation-kind={note.kind}>
          <div className={styles.noteHead}>
            <span className={styles.kind}>{note.kind}</span>
            <span>{note.node ? `on ${note.node}` : "on the whole run"}</span>
            <span>
              by {formatActor(note.author)}, <time dateTime={note.created_at}>{formatDateTime(note.created_at)}</time>
            </span>
          </div>
          <AnnotationText note={note} />
        </li>
      ))}
    </ul>
  );
}

const EMPTY = { body: "", label: "", score: "", metric: "" };

/** Comment on, label or score the run or one of its nodes (operators and admins). */
export function AnnotationForm({
  runId,
  nodes,
  onAdded,
}: {
  runId: string;
  nodes: string[];
  onAdded: () => void;
}) {
  const id = useId();
  const field = (name: string) => `${id}-${name}`;
  const [kind, setKind] = useState<Kind>("comment");
  const [node, setNode] = useState("");
  const [values, setValues] = useState(EMPTY);
  const [error, setError] = useState<{ field: string | null; message: string } | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setDone(null);
    const draft: AnnotationDraft =
      kind === "comment"
        ? { kind, body: values.body, node }
        : kind === "label"
          ? { kind, label: values.label, node }
          : { kind, score: values.score, metric: values.metric, node };
    const checked = annotationBody(draft);
    if (!checked.ok) {
      setError({ field: checked.field, message: checked.message });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await call((api) =>
        api.POST("/v1/runs/{run_id}/annotations", { params: { path: { run_id: runId } }, body: checked.body }),
      );
      setValues(EMPTY);
      setDone(`Your ${kind} was added.`);
      onAdded();
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(0, String(e));
      const fieldErrors = err.problem?.errors ?? [];
      const message = fieldErrors.length
        ? fieldErrors.map((f) => `${f.field}: ${f.message}`).join("; ")
        : err.message;
      setError({ field: fieldErrors[0]?.field?.split(".").pop() ?? null, message });
    } finally {
      setBusy(false);
    }
  }

  const invalid = (name: string) => (error?.field === name ? true : undefined);
  const describedBy = (name: string) => (error?.field === name ? field("error") : undefined);
  const set = (name: keyof typeof EMPTY) => (e: { target: { value: string } }) =>
    setValues({ ...values, [name]: e.target.value });

  return (
    <form className={styles.form} onSubmit={submit} aria-labelledby={field("title")} noValidate>
      <h3 id={field("title")}>Add an annotation</h3>
      <div className={styles.formRow}>
        <div className={styles.field}>
          <label htmlFor={field("kind")}>Kind</label>
          <select
            id={field("kind")}
            value={kind}
            onChange={(e) => {
              setKind(e.target.value as Kind);
              setError(null);
              setDone(null);
            }}
          >
            <option value="comment">comment</option>
            <option value="label">label</option>
            <option value="score">score (0 to 1)</option>
          </select>
        </div>
        <div className={styles.field}>
          <label htmlFor={field("node")}>About</label>
          <select id={field("node")} value={node} onChange={(e) => setNode(e.target.value)}>
            <option value="">the whole run</option>
            {nodes.map((n) => (
              <option key={n} value={n}>
                node {n}
              </option>
            ))}
          </select>
        </div>
      </div>
      {kind === "comment" ? (
        <div className={styles.field}>
          <label htmlFor={field("body")}>Comment</label>
          <textarea
            id={field("body")}
            maxLength={4000}
            value={values.body}
            onChange={set("body")}
            aria-invalid={invalid("body")}
            aria-describedby={describedBy("body")}
          />
        </div>
      ) : null}
      {kind === "label" ? (
        <div className={styles.field}>
          <label htmlFor={field("label")}>Label</label>
          <input
            id={field("label")}
            maxLength={64}
            placeholder="needs_review"
            autoCapitalize="none"
            spellCheck={false}
            value={values.label}
            onChange={set("label")}
            aria-invalid={invalid("label")}
            aria-describedby={describedBy("label") ?? field("label-hint")}
          />
          <span id={field("label-hint")} className={styles.hint}>
            lower-case letters, digits, _ : - (e.g. needs_review, cx:happy)
          </span>
        </div>
      ) : null}
      {kind === "score" ? (
        <div className={styles.formRow}>
          <div className={styles.field}>
            <label htmlFor={field("score")}>Score (0 to 1)</label>
            <input
              id={field("score")}
              type="number"
              inputMode="decimal"
              min={0}
              max={1}
              step={0.05}
              value={values.score}
              onChange={set("score")}
              aria-invalid={invalid("score")}
              aria-describedby={describedBy("score")}
            />
          </div>
          <div className={styles.field}>
            <label htmlFor={field("metric")}>Metric (optional)</label>
            <input
              id={field("metric")}
              maxLength={64}
              placeholder="tone"
              autoCapitalize="none"
              spellCheck={false}
              value={values.metric}
              onChange={set("metric")}
              aria-invalid={invalid("metric")}
              aria-describedby={describedBy("metric")}
            />
          </div>
        </div>
      ) : null}
      <div className={styles.formRow}>
        <button type="submit" disabled={busy}>
          {busy ? "Adding…" : `Add ${kind}`}
        </button>
      </div>
      {error ? (
        <p id={field("error")} className={styles.fieldError} role="alert">
          {error.message}
        </p>
      ) : null}
      {done ? (
        <p className="message-ok" role="status">
          {done}
        </p>
      ) : null}
    </form>
  );
}
