"use client";

import { useCallback, useEffect, useMemo, useRef, useState } from "react";

import { ApprovalCard } from "@/components/approvals/ApprovalCard";
import { useSession } from "@/components/SessionProvider";
import { Empty, ErrorPanel, Loading } from "@/components/states";
import { call } from "@/lib/api/client";
import { INBOX_PAGE, inboxCount, loadPages, oldestFirst, type Approval } from "@/lib/approvals";
import { formatDateTime } from "@/lib/format";
import { useApi } from "@/lib/useApi";

import "@/app/insights.css";

const REFRESH_MS = 5000;
const CLOCK_MS = 15000;

/**
 * The approval inbox: every request waiting for a person (pending, or escalated to admins),
 * oldest first, refreshed every few seconds. Operators decide here; viewers see it read-only.
 */
export default function ApprovalsPage() {
  const { me, can } = useSession();
  // How many pages of the oldest requests the inbox shows (and reloads on every refresh).
  const [pages, setPages] = useState(1);
  const pagesAsked = useRef(1);
  const inbox = useApi("approvals", () => loadInbox(pagesAsked.current));
  const [updatedAt, setUpdatedAt] = useState<Date | null>(null);
  const now = useNow(CLOCK_MS, inbox.data);
  const { reload } = inbox;

  useEffect(() => {
    if (inbox.data) setUpdatedAt(new Date());
  }, [inbox.data]);

  // Refresh on an interval, errors included (the last list stays on screen meanwhile), and
  // not while the tab is hidden; coming back refreshes at once.
  useEffect(() => {
    const timer = window.setInterval(() => {
      if (!document.hidden) reload();
    }, REFRESH_MS);
    const onVisible = () => !document.hidden && reload();
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      window.clearInterval(timer);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [reload]);

  // Cards decided (or refused for good) here stay until dismissed, after they leave the list.
  const [kept, setKept] = useState<Record<string, Approval>>({});
  const onSettled = useCallback((a: Approval) => setKept((k) => ({ ...k, [a.id]: a })), []);
  const onDismiss = useCallback(
    (id: string) =>
      setKept((k) => {
        const { [id]: _gone, ...rest } = k;
        return rest;
      }),
    [],
  );

  // Oldest first from the API, as many pages as were asked for.
  const answered = inbox.data;
  const live = answered?.items;
  const loadingMore = inbox.loading && answered !== undefined && answered.items.length < pages * INBOX_PAGE;
  const showMore = useCallback(() => {
    pagesAsked.current += 1;
    setPages(pagesAsked.current);
    reload();
  }, [reload]);
  const liveIds = useMemo(() => new Set((live ?? []).map((a) => a.id)), [live]);
  const shown = useMemo(
    () => oldestFirst([...(live ?? []), ...Object.values(kept).filter((a) => !liveIds.has(a.id))]),
    [live, kept, liveIds],
  );
  const workflows = useRunWorkflows(shown.map((a) => a.run_id));
  const canDecide = can("operator");

  return (
    <div className="approvals">
      <header className="insight-header">
        <h1>Approvals</h1>
        <p className="muted">
          Requests waiting for a person, oldest first. Each one holds a run until it is decided or its
          deadline passes.
        </p>
      </header>

      {!canDecide ? (
        <p className="notice" role="note">
          You are signed in as a <strong>viewer</strong>: you can see what waits for a decision, but deciding
          needs an operator token.
        </p>
      ) : null}

      <div className="inbox-status">
        <p aria-live="polite" className="inbox-count">
          {answered === undefined ? "" : inboxCount(answered.items, answered.more)}
        </p>
        <p className="muted small">
          {updatedAt ? `Updated ${formatDateTime(updatedAt.toISOString())}; refreshes every 5 seconds.` : null}
          {inbox.error && live ? (
            <span className="form-error"> Refreshing failed: {inbox.error.message.replace(/([^.!?])$/, "$1.")} Trying again…</span>
          ) : null}
        </p>
        <button type="button" className="secondary" onClick={reload}>
          Refresh now
        </button>
      </div>

      {inbox.error && !live ? (
        <ErrorPanel error={inbox.error} retry={reload} />
      ) : live === undefined ? (
        <Loading what="Loading the inbox" />
      ) : shown.length === 0 ? (
        <Empty title="Nothing waits for a decision">
          <p>When a workflow asks a person to approve, reject or edit what it proposes, the request shows up here.</p>
        </Empty>
      ) : (
        <ol className="approval-list" aria-label="Waiting requests, oldest first">
          {shown.map((a) => (
            <li key={a.id}>
              <ApprovalCard
                approval={a}
                workflow={workflows[a.run_id]}
                role={me.role}
                now={now}
                inList={liveIds.has(a.id)}
                onSettled={onSettled}
                onDismiss={onDismiss}
              />
            </li>
          ))}
        </ol>
      )}
      {answered?.more ? (
        <p className="inbox-more">
          <button type="button" className="secondary" onClick={showMore} disabled={loadingMore}>
            {loadingMore ? "Loading more…" : `Show the next ${INBOX_PAGE}`}
          </button>
        </p>
      ) : null}
    </div>
  );
}

/** The `pages` pages of the oldest waiting requests, following the API's `Link` header. */
function loadInbox(pages: number): Promise<{ items: Approval[]; more: boolean }> {
  return loadPages(pages, (cursor) => {
    let link: string | null = null;
    return call(async (api) => {
      const answer = await api.GET("/v1/approvals", {
        params: { query: { status: ["pending", "escalated"], limit: INBOX_PAGE, cursor: cursor ?? undefined } },
      });
      link = answer.response.headers.get("link");
      return answer;
    }).then((items) => ({ items, link }));
  });
}

/** The current time, ticking every `ms` and whenever `bump` changes (a refresh). */
function useNow(ms: number, bump: unknown): Date {
  const [now, setNow] = useState(() => new Date());
  useEffect(() => setNow(new Date()), [bump]);
  useEffect(() => {
    const timer = window.setInterval(() => setNow(new Date()), ms);
    return () => window.clearInterval(timer);
  }, [ms]);
  return now;
}

/**
 * Which workflow each run belongs to (an approval names only its run). Asked once per run and
 * kept: first the runs waiting for approval in one list call, then any left over one by one.
 */
function useRunWorkflows(runIds: string[]): Record<string, string> {
  const [known, setKnown] = useState<Record<string, string>>({});
  const asked = useRef(new Set<string>());
  const key = [...new Set(runIds)].sort().join(",");

  useEffect(() => {
    const missing = key ? key.split(",").filter((id) => !asked.current.has(id)) : [];
    if (!missing.length) return;
    missing.forEach((id) => asked.current.add(id));
    void (async () => {
      const found: Record<string, string> = {};
      try {
        const page = await call((api) =>
          api.GET("/v1/runs", { params: { query: { status: ["waiting_for_approval"], limit: 200 } } }),
        );
        for (const r of page.items) found[r.id] = r.workflow;
      } catch {
        // fall through to one call per run
      }
      const rest = missing.filter((id) => !(id in found));
      const now = rest.slice(0, 20);
      rest.slice(20).forEach((id) => asked.current.delete(id)); // the next refresh asks for these
      await Promise.all(
        now.map((id) =>
          call((api) => api.GET("/v1/runs/{run_id}", { params: { path: { run_id: id } } }))
            .then((run) => {
              found[id] = run.workflow;
            })
            .catch(() => asked.current.delete(id)),
        ),
      );
      if (Object.keys(found).length) setKnown((k) => ({ ...k, ...found }));
    })();
  }, [key]);

  return known;
}
