"use client";

import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from "react";

import { Empty, ErrorPanel, Loading } from "@/components/states";
import { call } from "@/lib/api/client";
import { useApi } from "@/lib/useApi";
import {
  NO_FILTERS,
  filtersToSearch,
  hasFilters,
  isMoving,
  parseRunFilters,
  rangeProblem,
  toListQuery,
  type RunFilters,
} from "@/lib/runFilters";

import { FirstRunGuide } from "./FirstRunGuide";
import { RunFilterForm } from "./RunFilterForm";
import { RunTable } from "./RunTable";
import styles from "./runs.module.css";

/** While a listed run is still moving the page reloads this often… */
const LIVE_MS = 3_000;
/** …and, on the newest page, this often anyway, so new runs appear. */
const IDLE_MS = 30_000;

/** The run list: filters in the URL, keyset pages, live while runs move. */
export function RunsListView() {
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname() ?? "/runs/";
  const filters = useMemo(() => parseRunFilters(params), [params]);
  const search = filtersToSearch(filters);
  const problem = rangeProblem(filters);
  const [refreshMs, setRefreshMs] = useState<number | undefined>(undefined);

  const list = useApi(
    problem ? null : `runs?${search}`,
    () => call((api) => api.GET("/v1/runs", { params: { query: toListQuery(filters) } })),
    { refreshMs },
  );
  const items = list.data?.items;
  const moving = items?.some((r) => isMoving(r.status)) ?? false;
  useEffect(() => {
    setRefreshMs(moving ? LIVE_MS : filters.cursor ? undefined : IDLE_MS);
  }, [moving, filters.cursor]);

  // Each page's predecessor, so "Newer" goes back one page; keyed by the filters too, since a
  // cursor belongs to the filters it was made with. Lost on reload: then "Newer" means newest.
  const previous = useRef(new Map<string, string>());
  const pageKey = (f: RunFilters, cursor: string) => `${filtersToSearch({ ...f, cursor: "" })}|${cursor}`;

  const go = useCallback(
    (next: RunFilters, scroll = false) => {
      const qs = filtersToSearch(next);
      router.push(qs ? `${pathname}?${qs}` : pathname, { scroll });
    },
    [router, pathname],
  );

  const older = () => {
    const next = list.data?.next_cursor;
    if (!next) return;
    previous.current.set(pageKey(filters, next), filters.cursor);
    go({ ...filters, cursor: next }, true);
  };
  const newerCursor = filters.cursor ? previous.current.get(pageKey(filters, filters.cursor)) : undefined;
  const newer = () => go({ ...filters, cursor: newerCursor ?? "" }, true);

  // Workflow names to suggest in the filter: every one seen in this session.
  const [workflows, setWorkflows] = useState<string[]>([]);
  useEffect(() => {
    if (!items?.length) return;
    setWorkflows((known) => {
      const all = new Set([...known, ...items.map((r) => r.workflow)]);
      return all.size === known.length ? known : [...all].sort();
    });
  }, [items]);

  // "Created 3 min ago" moves on between loads.
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    setNow(new Date());
    const timer = window.setInterval(() => setNow(new Date()), 15_000);
    return () => window.clearInterval(timer);
  }, [list.data]);

  let body: ReactNode;
  if (problem) {
    body = (
      <p className="form-error" role="alert">
        {problem}
      </p>
    );
  } else if (!list.data) {
    body = list.error ? <ErrorPanel error={list.error} retry={list.reload} /> : <Loading what="Loading runs" />;
  } else if (list.data.items.length === 0) {
    if (filters.cursor) {
      body = (
        <Empty title="No older runs">
          <button type="button" onClick={() => go({ ...filters, cursor: "" }, true)}>
            Back to the newest runs
          </button>
        </Empty>
      );
    } else if (hasFilters(filters)) {
      body = (
        <Empty title="No runs match these filters">
          <p>Try a wider time range, another status, or check the trigger id.</p>
          <button type="button" onClick={() => go(NO_FILTERS)}>
            Clear all filters
          </button>
        </Empty>
      );
    } else {
      body = <FirstRunGuide />;
    }
  } else {
    const count = list.data.items.length;
    body = (
      <>
        <RunTable runs={list.data.items} now={now} />
        <nav className={styles.pager} aria-label="Pages of runs">
          <span className={styles.count}>
            {count} run{count === 1 ? "" : "s"} {filters.cursor ? "on this page" : "shown, newest first"}
          </span>
          <span className={styles.filterButtons}>
            <button type="button" className="secondary" onClick={newer} disabled={!filters.cursor}>
              {filters.cursor && newerCursor === undefined ? "Newest" : "Newer"}
            </button>
            <button type="button" className="secondary" onClick={older} disabled={!list.data.next_cursor}>
              Older
            </button>
          </span>
        </nav>
      </>
    );
  }

  return (
    <>
      <div className={styles.header}>
        <h1>Runs</h1>
        {moving ? (
          <span className={styles.live}>
            <span className={styles.liveDot} aria-hidden="true" /> Live: updating every {LIVE_MS / 1000} s while runs
            are in progress
          </span>
        ) : null}
        <span className={styles.headerEnd}>
          <button type="button" className="secondary" onClick={list.reload} disabled={Boolean(problem)}>
            Refresh
          </button>
        </span>
      </div>
      <RunFilterForm filters={filters} workflows={workflows} onChange={(next) => go(next)} />
      {list.error && list.data ? (
        <div className={styles.inlineNotice} role="alert">
          Could not refresh the list: {list.error.message}
          <button type="button" className="secondary" onClick={list.reload}>
            Try again
          </button>
        </div>
      ) : null}
      <div aria-busy={list.loading && !list.data}>{body}</div>
    </>
  );
}
