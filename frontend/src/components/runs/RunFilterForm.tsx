"use client";

import { useEffect, useId, useState, type FormEvent } from "react";

import { statusLabel } from "@/components/StatusBadge";
import {
  NO_FILTERS,
  RUN_SOURCES,
  RUN_STATUSES,
  hasFilters,
  isoToLocalInput,
  localInputToIso,
  withFilters,
  type RunFilters,
  type RunSource,
  type RunStatus,
} from "@/lib/runFilters";

import styles from "./runs.module.css";

interface Draft {
  statuses: RunStatus[];
  source: RunSource | "";
  workflow: string;
  since: string;
  until: string;
  triggerId: string;
}

function draftOf(filters: RunFilters): Draft {
  return {
    statuses: filters.statuses,
    source: filters.source,
    workflow: filters.workflow,
    since: isoToLocalInput(filters.since),
    until: isoToLocalInput(filters.until),
    triggerId: filters.triggerId,
  };
}

/**
 * The run list's filters. Status and source apply at once; the text and time fields apply with
 * Enter or "Apply". Every change goes to the URL through `onChange`; the form shows a change at
 * once, before the URL (and the list) catch up.
 */
export function RunFilterForm({
  filters,
  workflows,
  onChange,
}: {
  filters: RunFilters;
  /** Workflow names to suggest (the ones seen so far). */
  workflows: string[];
  onChange: (next: RunFilters) => void;
}) {
  const id = useId();
  const [draft, setDraft] = useState<Draft>(() => draftOf(filters));

  // Back/forward and links change the filters under the form: show what the URL says.
  useEffect(() => setDraft(draftOf(filters)), [filters]);

  function applied(change: Partial<Omit<RunFilters, "cursor">> = {}): RunFilters {
    return withFilters(filters, {
      statuses: draft.statuses,
      source: draft.source,
      workflow: draft.workflow.trim(),
      since: localInputToIso(draft.since),
      until: localInputToIso(draft.until),
      triggerId: draft.triggerId.trim(),
      ...change,
    });
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    onChange(applied());
  }

  function toggleStatus(status: RunStatus, on: boolean) {
    const statuses = RUN_STATUSES.filter((s) => (s === status ? on : draft.statuses.includes(s)));
    setDraft({ ...draft, statuses });
    onChange(applied({ statuses }));
  }

  const field = (name: string) => `${id}-${name}`;
  return (
    <form className={styles.filters} role="search" aria-label="Filter runs" onSubmit={submit}>
      <fieldset className={styles.statuses}>
        <legend>Status</legend>
        {RUN_STATUSES.map((status) => (
          <label key={status} className={styles.check}>
            <input
              type="checkbox"
              name="status"
              value={status}
              checked={draft.statuses.includes(status)}
              onChange={(e) => toggleStatus(status, e.target.checked)}
            />
            {statusLabel(status)}
          </label>
        ))}
      </fieldset>
      <div className={styles.filterRow}>
        <div className={styles.field}>
          <label htmlFor={field("workflow")}>Workflow</label>
          <input
            id={field("workflow")}
            name="workflow"
            list={field("workflows")}
            maxLength={48}
            placeholder="any workflow"
            value={draft.workflow}
            onChange={(e) => setDraft({ ...draft, workflow: e.target.value })}
          />
          <datalist id={field("workflows")}>
            {workflows.map((w) => (
              <option key={w} value={w} />
            ))}
          </datalist>
        </div>
        <div className={styles.field}>
          <label htmlFor={field("source")}>Started by</label>
          <select
            id={field("source")}
            name="source"
            value={draft.source}
            onChange={(e) => {
              const source = e.target.value as RunSource | "";
              setDraft({ ...draft, source });
              onChange(applied({ source }));
            }}
          >
            <option value="">anything</option>
            {RUN_SOURCES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div className={styles.field}>
          <label htmlFor={field("since")}>Created from</label>
          <input
            id={field("since")}
            name="since"
            type="datetime-local"
            value={draft.since}
            onChange={(e) => setDraft({ ...draft, since: e.target.value })}
          />
        </div>
        <div className={styles.field}>
          <label htmlFor={field("until")}>Created before</label>
          <input
            id={field("until")}
            name="until"
            type="datetime-local"
            value={draft.until}
            onChange={(e) => setDraft({ ...draft, until: e.target.value })}
          />
        </div>
        <div className={styles.fieldWide}>
          <label htmlFor={field("trigger")}>Trigger id</label>
          <input
            id={field("trigger")}
            name="trigger_id"
            type="search"
            maxLength={200}
            placeholder="webhook-id, Idempotency-Key or ticket id"
            aria-describedby={field("trigger-hint")}
            value={draft.triggerId}
            onChange={(e) => setDraft({ ...draft, triggerId: e.target.value })}
          />
        </div>
        <div className={styles.filterButtons}>
          <button type="submit">Apply</button>
          <button
            type="button"
            className="secondary"
            disabled={!hasFilters(filters) && !draft.workflow && !draft.since && !draft.until && !draft.triggerId}
            onClick={() => {
              setDraft(draftOf(NO_FILTERS));
              onChange(NO_FILTERS);
            }}
          >
            Clear
          </button>
        </div>
      </div>
      <p id={field("trigger-hint")} className={styles.hint}>
        Find a run by the id it was started with: the webhook&apos;s <code>webhook-id</code>, an{" "}
        <code>Idempotency-Key</code>, or the business id the workflow names (a ticket id, say). Times are in
        your time zone.
      </p>
    </form>
  );
}
