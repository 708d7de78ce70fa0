"use client";

import Link from "next/link";
import { useEffect, useId, useRef, useState, type ReactNode } from "react";

import { ApiError, call } from "@/lib/api/client";
import { isMoving } from "@/lib/runFilters";
import { runHref, shortId, type Run } from "@/lib/runView";

import styles from "./runs.module.css";

type Action = "cancel" | "redrive" | "rerun";

interface Outcome {
  ok: boolean;
  message: ReactNode;
}

const COPY: Record<Action, { button: string; what: string; question: string; confirm: string; danger: boolean }> = {
  cancel: {
    button: "Cancel run…",
    what: "Stops a run that has not finished and withdraws its open approvals. Nothing it already did is undone.",
    question: "Cancel this run? Its execution stops and its open approvals are withdrawn. This cannot be resumed.",
    confirm: "Yes, cancel the run",
    danger: true,
  },
  redrive: {
    button: "Redrive…",
    what: "Continues a failed run from the node that failed. Finished nodes are not run again.",
    question: "Redrive this run from its failed node? Nodes that finished are not run again.",
    confirm: "Yes, redrive",
    danger: false,
  },
  rerun: {
    button: "Re-run…",
    what: "Starts a new run from this run's original trigger, on the workflow's current version.",
    question: "Start a new run from this run's trigger? Its steps, including any side effects, run again.",
    confirm: "Yes, start a new run",
    danger: false,
  },
};

function ConfirmPanel({
  action,
  busy,
  onConfirm,
  onClose,
}: {
  action: Action;
  busy: boolean;
  onConfirm: () => void;
  onClose: () => void;
}) {
  const id = useId();
  const confirmRef = useRef<HTMLButtonElement>(null);
  useEffect(() => confirmRef.current?.focus(), []);
  const copy = COPY[action];
  return (
    <div
      className={styles.confirm}
      role="group"
      aria-labelledby={id}
      onKeyDown={(e) => {
        if (e.key === "Escape") onClose();
      }}
    >
      <p id={id}>{copy.question}</p>
      <div className={styles.confirmButtons}>
        <button
          ref={confirmRef}
          type="button"
          className={copy.danger ? "danger" : undefined}
          disabled={busy}
          onClick={onConfirm}
          data-confirm={action}
        >
          {busy ? "Working…" : copy.confirm}
        </button>
        <button type="button" className="secondary" onClick={onClose} disabled={busy}>
          {action === "cancel" ? "Keep it running" : "Not now"}
        </button>
      </div>
    </div>
  );
}

/**
 * Cancel, redrive and re-run, for operators and admins (the page hides this for viewers; the API
 * refuses them too). Each asks for confirmation inline; the API's answer, refusals included
 * (409 when the run is not in a state that allows it), is shown as it says it.
 */
export function RunActions({ run, onChanged }: { run: Run; onChanged: () => void }) {
  const [confirming, setConfirming] = useState<Action | null>(null);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const triggers = useRef<Partial<Record<Action, HTMLButtonElement | null>>>({});
  // When a confirmation closes, focus goes back to the button that opened it (once it is back).
  const [refocus, setRefocus] = useState<Action | null>(null);
  useEffect(() => {
    if (!refocus) return;
    triggers.current[refocus]?.focus();
    setRefocus(null);
  }, [refocus]);

  const close = () => {
    setRefocus(confirming);
    setConfirming(null);
  };

  async function perform(action: Action) {
    setBusy(true);
    setOutcome(null);
    const path = { params: { path: { run_id: run.id } } };
    try {
      if (action === "cancel") {
        await call((api) => api.POST("/v1/runs/{run_id}/cancel", path));
        setOutcome({ ok: true, message: "The run was cancelled." });
      } else if (action === "redrive") {
        const answer = await call((api) => api.POST("/v1/runs/{run_id}/redrive", path));
        setOutcome({
          ok: true,
          message: answer.node ? `The run continues from ${answer.node}.` : "The run continues.",
        });
      } else {
        const answer = await call((api) => api.POST("/v1/runs/{run_id}/rerun", path));
        setOutcome({
          ok: true,
          message: (
            <>
              A new run started: <Link href={runHref(answer.run_id)}>open run {shortId(answer.run_id)}</Link>.
            </>
          ),
        });
      }
      onChanged();
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(0, String(e));
      const verb = action === "cancel" ? "cancel" : action === "redrive" ? "redrive" : "re-run";
      setOutcome({ ok: false, message: `Could not ${verb} the run: ${err.message}` });
      // The run may have moved on meanwhile (that is what a 409 says): show where it is now.
      if (err.status === 409) onChanged();
    } finally {
      setBusy(false);
      setConfirming(null);
      setRefocus(action);
    }
  }

  const applies: Record<Action, boolean> = {
    cancel: isMoving(run.status),
    redrive: run.status === "failed",
    rerun: true,
  };

  return (
    <>
      <div className={styles.actions}>
        {(["cancel", "redrive", "rerun"] as const).map((action) => (
          <div key={action} className={styles.action}>
            {confirming === action ? (
              <ConfirmPanel action={action} busy={busy} onConfirm={() => void perform(action)} onClose={close} />
            ) : (
              <button
                type="button"
                ref={(el) => {
                  triggers.current[action] = el;
                }}
                className={applies[action] ? (COPY[action].danger ? "danger" : undefined) : "secondary"}
                onClick={() => {
                  setOutcome(null);
                  setConfirming(action);
                }}
                disabled={busy}
                data-action={action}
              >
                {COPY[action].button}
              </button>
            )}
            <p>{COPY[action].what}</p>
          </div>
        ))}
      </div>
      {outcome ? (
        <p className={outcome.ok ? styles.resultOk : styles.resultError} role={outcome.ok ? "status" : "alert"}>
          {outcome.message}
        </p>
      ) : null}
    </>
  );
}
