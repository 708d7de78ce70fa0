/**
 * The run list's filters live in the address bar, so a filtered view can be bookmarked, shared
 * and reloaded, and Back undoes a change. Pure functions: tested in runFilters.test.ts.
 *
 * URL parameters: `status` (repeatable), `workflow`, `source`, `since`, `until` (ISO 8601
 * instants), `trigger_id`, `cursor` (the API's keyset cursor for the page shown).
 */
import type { paths } from "@/lib/api/schema";

export type ListRunsQuery = NonNullable<paths["/v1/runs"]["get"]["parameters"]["query"]>;
export type RunStatus = NonNullable<ListRunsQuery["status"]>[number];
export type RunSource = NonNullable<ListRunsQuery["source"]>;

export const RUN_STATUSES: readonly RunStatus[] = [
  "queued",
  "running",
  "waiting_for_approval",
  "succeeded",
  "failed",
  "cancelled",
];
export const RUN_SOURCES: readonly RunSource[] = ["webhook", "api", "schedule"];

/** Statuses a run can still leave: while any listed run has one, the list refreshes itself. */
export const MOVING_STATUSES: readonly string[] = ["queued", "running", "waiting_for_approval"];

export function isMoving(status: string): boolean {
  return MOVING_STATUSES.includes(status);
}

/** How many runs one page shows. */
export const PAGE_SIZE = 50;

/** The API's limits on these parameters: longer values would be refused with a 422. */
const MAX_WORKFLOW = 48;
const MAX_TRIGGER_ID = 200;
const MAX_CURSOR = 400;

export interface RunFilters {
  statuses: RunStatus[];
  /** "" means any. */
  workflow: string;
  source: RunSource | "";
  /** An ISO 8601 instant (UTC), inclusive; "" means open. */
  since: string;
  /** An ISO 8601 instant (UTC), exclusive; "" means open. */
  until: string;
  triggerId: string;
  /** The page after this keyset position; "" is the newest page. */
  cursor: string;
}

export const NO_FILTERS: RunFilters = {
  statuses: [],
  workflow: "",
  source: "",
  since: "",
  until: "",
  triggerId: "",
  cursor: "",
};

interface ReadableParams {
  get(name: string): string | null;
  getAll(name: string): string[];
}

/** An instant from the URL or a form, as an ISO string in UTC without milliseconds; "" when
 * the value is not a date and time (or a date) this page understands. */
export function normaliseInstant(value: string | null | undefined): string {
  const text = (value ?? "").trim();
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i.test(text)) {
    return "";
  }
  const ms = Date.parse(text.replace(" ", "T"));
  if (!Number.isFinite(ms)) return "";
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Read the filters from the query string. Unknown statuses, malformed dates and cursors are
 * dropped rather than sent to the API. */
export function parseRunFilters(params: ReadableParams): RunFilters {
  const statuses = new Set<RunStatus>();
  for (const raw of params.getAll("status")) {
    for (const part of raw.split(",")) {
      const status = part.trim() as RunStatus;
      if (RUN_STATUSES.includes(status)) statuses.add(status);
    }
  }
  const source = (params.get("source") ?? "").trim() as RunSource;
  const cursor = (params.get("cursor") ?? "").trim();
  return {
    statuses: RUN_STATUSES.filter((s) => statuses.has(s)),
    workflow: (params.get("workflow") ?? "").trim().slice(0, MAX_WORKFLOW),
    source: RUN_SOURCES.includes(source) ? source : "",
    since: normaliseInstant(params.get("since")),
    until: normaliseInstant(params.get("until")),
    triggerId: (params.get("trigger_id") ?? "").trim().slice(0, MAX_TRIGGER_ID),
    cursor: /^[A-Za-z0-9_=-]+$/.test(cursor) && cursor.length <= MAX_CURSOR ? cursor : "",
  };
}

/** The canonical query string for `filters` (no leading "?"); empty for no filters. */
export function filtersToSearch(filters: RunFilters): string {
  const params = new URLSearchParams();
  for (const status of filters.statuses) params.append("status", status);
  if (filters.workflow) params.set("workflow", filters.workflow);
  if (filters.source) params.set("source", filters.source);
  if (filters.since) params.set("since", filters.since);
  if (filters.until) params.set("until", filters.until);
  if (filters.triggerId) params.set("trigger_id", filters.triggerId);
  if (filters.cursor) params.set("cursor", filters.cursor);
  return params.toString();
}

/** The `GET /v1/runs` query for these filters: newest first, one page. */
export function toListQuery(filters: RunFilters, limit: number = PAGE_SIZE): ListRunsQuery {
  const query: ListRunsQuery = { sort: "-created_at", limit };
  if (filters.statuses.length) query.status = [...filters.statuses];
  if (filters.workflow) query.workflow = filters.workflow;
  if (filters.source) query.source = filters.source;
  if (filters.since) query.created_after = filters.since;
  if (filters.until) query.created_before = filters.until;
  if (filters.triggerId) query.trigger_id = filters.triggerId;
  if (filters.cursor) query.cursor = filters.cursor;
  return query;
}

/** True when anything narrows the list (the page position aside). */
export function hasFilters(filters: RunFilters): boolean {
  return Boolean(
    filters.statuses.length ||
      filters.workflow ||
      filters.source ||
      filters.since ||
      filters.until ||
      filters.triggerId,
  );
}

/** The filters with `change` applied, back on the newest page (a cursor belongs to the
 * filters it was made with). */
export function withFilters(filters: RunFilters, change: Partial<Omit<RunFilters, "cursor">>): RunFilters {
  return { ...filters, ...change, cursor: "" };
}

/** What is wrong with the time range, if anything, in words. */
export function rangeProblem(filters: RunFilters): string | null {
  if (filters.since && filters.until && Date.parse(filters.since) >= Date.parse(filters.until)) {
    return "The start of the time range must be before its end.";
  }
  return null;
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/** An ISO instant as the value of an `<input type="datetime-local">` in the viewer's time zone. */
export function isoToLocalInput(iso: string): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}` +
    `T${pad(d.getHours())}:${pad(d.getMinutes())}`
  );
}

/** The value of an `<input type="datetime-local">` (the viewer's time zone) as an ISO instant. */
export function localInputToIso(value: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value.trim());
  if (!m) return "";
  const [, y, mo, d, h, mi, s] = m;
  const date = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s ?? 0));
  if (Number.isNaN(date.getTime())) return "";
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}
