/** Pure helpers behind the Approvals inbox: tested in approvals.test.ts. */
import type { Schemas } from "@/lib/api/client";
import { formatDuration } from "@/lib/format";

export type Approval = Schemas["ApprovalOut"];
export type Decision = Schemas["DecisionIn"]["decision"];

/** What a request carries, read defensively: a workflow's `interrupt(...)` may send anything. */
export interface RequestView {
  summary: string | null;
  kind: string | null;
  reasons: string[];
  /** What the workflow proposes (the edit form starts from it). */
  draft: unknown;
  hasDraft: boolean;
  /** JSON Schema an edit must match; null when the request offers no edit. */
  editSchema: Record<string, unknown> | null;
  /** Whatever else the request holds, to show as is. */
  rest: Record<string, unknown>;
  /** The request was not an object at all: shown raw. */
  raw: unknown;
}

const KNOWN = new Set(["summary", "kind", "reasons", "draft", "edit_schema"]);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function requestView(request: unknown): RequestView {
  if (!isObject(request)) {
    return { summary: null, kind: null, reasons: [], draft: undefined, hasDraft: false, editSchema: null, rest: {}, raw: request };
  }
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(request)) if (!KNOWN.has(k)) rest[k] = v;
  return {
    summary: typeof request.summary === "string" ? request.summary : null,
    kind: typeof request.kind === "string" ? request.kind : null,
    reasons: Array.isArray(request.reasons) ? request.reasons.map((r) => (typeof r === "string" ? r : JSON.stringify(r))) : [],
    draft: request.draft,
    hasDraft: "draft" in request,
    editSchema: isObject(request.edit_schema) ? request.edit_schema : null,
    rest,
    raw: undefined,
  };
}

export type Urgency = "ok" | "soon" | "expired";

export interface Timing {
  /** "waiting 3 h 5 min". */
  age: string;
  /** "2 h 10 min left", "expired 5 min ago". */
  left: string;
  urgency: Urgency;
}

const SOON_SECONDS = 15 * 60;

/** Age from creation and time left against the deadline; "soon" under a quarter of the
 * request's window or under 15 minutes. */
export function timing(a: Pick<Approval, "created_at" | "expires_at">, now: Date = new Date()): Timing {
  const created = new Date(a.created_at).getTime();
  const expires = new Date(a.expires_at).getTime();
  const t = now.getTime();
  const age = Math.max(0, (t - created) / 1000);
  const left = (expires - t) / 1000;
  const whole = Math.max(1, (expires - created) / 1000);
  const round = (s: number) => formatDuration(s < 60 ? s : Math.floor(s / 60) * 60);
  if (left <= 0) return { age: `waiting ${round(age)}`, left: `expired ${round(-left)} ago`, urgency: "expired" };
  return {
    age: `waiting ${round(age)}`,
    left: `${round(left)} left`,
    urgency: left < SOON_SECONDS || left < whole / 4 ? "soon" : "ok",
  };
}

/** Oldest first (the API's order too; kept when it refreshes). */
export function oldestFirst(items: Approval[]): Approval[] {
  return [...items].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
}

/** Who may decide: an operator a pending request, only an admin an escalated one. */
export function decideBlocker(role: "viewer" | "operator" | "admin", status: string): string | null {
  if (role === "viewer") return "Deciding needs an operator token: you are signed in as a viewer.";
  if (status === "escalated" && role !== "admin")
    return "This request was escalated to admins after its first deadline passed: an admin must decide it.";
  return null;
}

/** The API's refusals, in words. `detail` is the API's own sentence, kept for the specifics. */
export function decisionRefusal(status: number, apiDetail: string): { title: string; detail: string | null } {
  // "approval <uuid> was already decided: rejected" → "It was already decided: rejected."
  const detail = apiDetail.replace(/^approval [0-9a-f-]{36} /i, "It ").replace(/([^.])$/, "$1.");
  switch (status) {
    case 409:
      return { title: "Someone already decided this request.", detail };
    case 410:
      return /cancel|withdrawn/i.test(detail)
        ? { title: "This request was withdrawn: its run was cancelled.", detail: null }
        : { title: "This request has expired: the workflow's default action was taken.", detail: null };
    case 403:
      return { title: "Your role cannot decide this request.", detail };
    case 404:
      return { title: "This request no longer exists.", detail: null };
    case 422:
      return { title: "The API did not accept this decision.", detail };
    default:
      return { title: "The decision was not sent.", detail };
  }
}

const PAST: Record<Decision, string> = { approve: "Approved", reject: "Rejected", edit: "Edited and approved" };

export function decisionPast(decision: Decision): string {
  return PAST[decision];
}

/** Statuses a run rests in: after these, watching it stops. */
const SETTLED = new Set(["succeeded", "failed", "cancelled", "waiting_for_approval"]);

/** Keep watching a run after a decision: until it settles again, for at most `limitMs`. */
export function keepWatching(status: string | null, decidedAt: number, now: number, limitMs = 20000): boolean {
  if (now - decidedAt >= limitMs) return false;
  if (status === null) return true;
  // Right after the decision the run may still read `waiting_for_approval` for a moment.
  if (status === "waiting_for_approval") return now - decidedAt < 5000;
  return !SETTLED.has(status);
}

/** How many requests the inbox asks for at a time: the oldest first, then the next ones. */
export const INBOX_PAGE = 200;

/** The `cursor` of the next page from a `Link: <?…&cursor=…>; rel="next"` header; null when
 * there is no next page (no header, or none of its links is `rel="next"`). */
export function nextCursor(link: string | null | undefined): string | null {
  if (!link) return null;
  for (const part of link.split(",")) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (!m || !/(^|;)\s*rel="?next"?\s*(;|$)/i.test(m[2])) continue;
    const query = m[1].includes("?") ? m[1].slice(m[1].indexOf("?") + 1) : "";
    return new URLSearchParams(query).get("cursor");
  }
  return null;
}

/** One answer of `GET /v1/approvals`: its requests and its `Link` header. */
export interface InboxPage {
  items: Approval[];
  link: string | null;
}

/** The first `pages` pages of the inbox, each asked for with the cursor of the one before
 * (`fetchPage(null)` the first); `more` when the last one named a next page. */
export async function loadPages(
  pages: number,
  fetchPage: (cursor: string | null) => Promise<InboxPage>,
): Promise<{ items: Approval[]; more: boolean }> {
  const items: Approval[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < pages; page++) {
    const answer = await fetchPage(cursor);
    items.push(...answer.items);
    cursor = nextCursor(answer.link);
    if (cursor === null) return { items, more: false };
  }
  return { items, more: true };
}

/** The inbox's count line for the requests loaded so far. When more wait than were loaded,
 * it says that only the oldest are shown rather than a count that is too low. */
export function inboxCount(waiting: readonly Approval[], more = false): string {
  if (waiting.length === 0) return "Nothing waits for a decision.";
  const escalated = waiting.filter((a) => a.status === "escalated").length;
  const n = waiting.length;
  const head = more ? `More than ${n} waiting; the ${n} oldest are shown` : `${n} waiting`;
  return `${head}${escalated ? `, ${escalated} of them escalated to admins` : ""}.`;
}
