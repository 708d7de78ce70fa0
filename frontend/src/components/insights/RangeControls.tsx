"use client";

import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useCallback, useEffect, useId, useMemo, useState, type FormEvent, type ReactNode } from "react";

import { call } from "@/lib/api/client";
import {
  PRESETS,
  customRangeError,
  parseRange,
  rangeQuery,
  rangeSearch,
  utcDay,
  type RangeState,
} from "@/lib/range";

/**
 * The period and workflow an insight page shows, read from and written to the query string.
 * `set` replaces the history entry (a bookmark keeps the view; Back leaves the page).
 * Must render inside <Suspense> (useSearchParams in a static export).
 */
export function useInsightQuery(): {
  state: RangeState;
  params: URLSearchParams;
  set: (next: RangeState) => void;
  setParam: (name: string, value: string | null) => void;
} {
  const router = useRouter();
  const pathname = usePathname() ?? "/";
  const search = useSearchParams();
  const searchText = search?.toString() ?? "";
  const params = useMemo(() => new URLSearchParams(searchText), [searchText]);
  const state = useMemo(() => parseRange(params), [params]);
  const go = useCallback(
    (query: string) => router.replace(query ? `${pathname}?${query}` : pathname, { scroll: false }),
    [router, pathname],
  );
  const set = useCallback((next: RangeState) => go(rangeSearch(next, params)), [go, params]);
  const setParam = useCallback(
    (name: string, value: string | null) => {
      const next = new URLSearchParams(params);
      if (value === null) next.delete(name);
      else next.set(name, value);
      go(next.toString());
    },
    [go, params],
  );
  return { state, params, set, setParam };
}

export interface WorkflowOption {
  name: string;
  description: string;
}

let knownWorkflows: Promise<WorkflowOption[]> | null = null;

/**
 * The tenant's workflows for the selector: those the API reports outcomes for (asked once per
 * page load), plus any the page already knows of (`seen`), so the current choice always shows.
 */
export function useWorkflowOptions(seen: WorkflowOption[] = []): WorkflowOption[] {
  const [fetched, setFetched] = useState<WorkflowOption[]>([]);
  useEffect(() => {
    let cancelled = false;
    if (!knownWorkflows) {
      knownWorkflows = call((api) => api.GET("/v1/outcomes"))
        .then((o) => o.workflows.map((w) => ({ name: w.workflow, description: w.description })))
        .catch(() => {
          knownWorkflows = null; // ask again next time; the page's own data still fills the list
          return [];
        });
    }
    void knownWorkflows.then((list) => !cancelled && setFetched(list));
    return () => {
      cancelled = true;
    };
  }, []);
  const seenKey = seen.map((w) => w.name).join(",");
  return useMemo(() => {
    const byName = new Map<string, WorkflowOption>();
    for (const w of [...fetched, ...seen]) {
      const prior = byName.get(w.name);
      byName.set(w.name, { name: w.name, description: w.description || prior?.description || "" });
    }
    return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [fetched, seenKey]);
}

/**
 * Period presets (7, 28, 90 days), a custom since/until, and a workflow selector. Every control
 * is a real button, input or select with a label; the current period is `aria-pressed`.
 */
export function RangeControls({
  state,
  onChange,
  workflows,
  children,
}: {
  state: RangeState;
  onChange: (next: RangeState) => void;
  workflows: WorkflowOption[];
  /** Page-specific controls shown beside these (e.g. the trend's bucket). */
  children?: ReactNode;
}) {
  const id = useId();
  const [customOpen, setCustomOpen] = useState(state.range === "custom");
  const [since, setSince] = useState(state.since ?? "");
  const [until, setUntil] = useState(state.until ?? "");
  const [error, setError] = useState<string | null>(null);
  const today = utcDay(new Date());

  useEffect(() => {
    if (state.range === "custom") {
      setCustomOpen(true);
      setSince(state.since ?? "");
      setUntil(state.until ?? "");
    }
  }, [state.range, state.since, state.until]);

  function choosePreset(key: RangeState["range"]) {
    setCustomOpen(false);
    setError(null);
    onChange({ ...state, range: key, since: null, until: null });
  }

  function openCustom() {
    if (!customOpen && state.range !== "custom") {
      // Start from the period on screen, so "custom" begins as a small change of it.
      setSince(rangeQuery(state).since.slice(0, 10));
      setUntil(today);
    }
    setCustomOpen(true);
  }

  function applyCustom(event: FormEvent) {
    event.preventDefault();
    const problem = customRangeError(since, until);
    setError(problem);
    if (problem) return;
    onChange({ ...state, range: "custom", since, until });
  }

  const workflowKnown = !state.workflow || workflows.some((w) => w.name === state.workflow);

  return (
    <div className="insight-controls" role="group" aria-label="Period and workflow">
      <div className="insight-control">
        <span className="insight-control-label" id={`${id}-period`}>
          Period
        </span>
        <div className="segmented" role="group" aria-labelledby={`${id}-period`}>
          {PRESETS.map((p) => (
            <button
              key={p.key}
              type="button"
              className="segment"
              aria-pressed={state.range === p.key && !customOpen}
              onClick={() => choosePreset(p.key)}
            >
              {p.label}
            </button>
          ))}
          <button
            type="button"
            className="segment"
            aria-pressed={customOpen}
            aria-expanded={customOpen}
            aria-controls={`${id}-custom`}
            onClick={openCustom}
          >
            Custom…
          </button>
        </div>
      </div>

      {customOpen ? (
        <form id={`${id}-custom`} className="insight-custom" onSubmit={applyCustom} noValidate>
          <div className="insight-control">
            <label htmlFor={`${id}-since`}>From</label>
            <input
              id={`${id}-since`}
              type="date"
              value={since}
              max={today}
              onChange={(e) => setSince(e.target.value)}
              aria-describedby={`${id}-utc${error ? ` ${id}-error` : ""}`}
              aria-invalid={error ? true : undefined}
            />
          </div>
          <div className="insight-control">
            <label htmlFor={`${id}-until`}>To (inclusive)</label>
            <input
              id={`${id}-until`}
              type="date"
              value={until}
              min={since || undefined}
              onChange={(e) => setUntil(e.target.value)}
              aria-describedby={`${id}-utc${error ? ` ${id}-error` : ""}`}
              aria-invalid={error ? true : undefined}
            />
          </div>
          <button type="submit">Apply</button>
          <span className="muted small" id={`${id}-utc`}>
            Whole days, UTC.
          </span>
          {error ? (
            <p className="form-error" id={`${id}-error`} role="alert">
              {error}
            </p>
          ) : null}
        </form>
      ) : null}

      <div className="insight-control">
        <label htmlFor={`${id}-workflow`}>Workflow</label>
        <select
          id={`${id}-workflow`}
          value={state.workflow ?? ""}
          onChange={(e) => onChange({ ...state, workflow: e.target.value || null })}
        >
          <option value="">All workflows</option>
          {workflows.map((w) => (
            <option key={w.name} value={w.name}>
              {w.name}
            </option>
          ))}
          {!workflowKnown && state.workflow ? <option value={state.workflow}>{state.workflow}</option> : null}
        </select>
      </div>

      {children}
    </div>
  );
}
