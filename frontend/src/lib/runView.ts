/**
 * What the run detail page shows, derived from `GET /v1/runs/{id}`: node statuses in words and
 * symbols, the timeline, retries, approval decisions with what an edit changed. Pure functions:
 * tested in runView.test.ts.
 */
import type { Schemas } from "@/lib/api/client";

export type Run = Schemas["RunOut"];
export type RunEvent = Schemas["EventOut"];
export type Approval = Schemas["ApprovalOut"];
export type GraphNode = Schemas["NodeOut"];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string | null | undefined): value is string {
  return typeof value === "string" && UUID.test(value.trim());
}

export function runHref(id: string): string {
  return `/runs/detail/?id=${encodeURIComponent(id)}`;
}

/** A short form of a run id for tables and links ("0f8a12c4"). */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** `idle`: never reached (dashed); `halt`: reached, then stopped by a cancel (solid grey). */
export type Tone = "ok" | "info" | "warn" | "bad" | "halt" | "idle";

export interface NodeStatusInfo {
  /** Words shown beside the symbol: colour is never the only signal. */
  label: string;
  symbol: string;
  tone: Tone;
}

/** A node's status in a run as the API names it (`pending`/`running`/`waiting`/`succeeded`/
 * `failed`/`stopped`/`skipped`) in the words and symbol the graph shows. `stopped`: the run was
 * cancelled while the node ran or waited. `pending` (the run may still get there) and `skipped`
 * (it ended first) both read "not reached". */
export function nodeStatusInfo(status: string): NodeStatusInfo {
  switch (status) {
    case "succeeded":
      return { label: "succeeded", symbol: "✓", tone: "ok" };
    case "running":
      return { label: "running", symbol: "▶", tone: "info" };
    case "waiting":
      return { label: "waiting for approval", symbol: "◷", tone: "warn" };
    case "failed":
      return { label: "failed", symbol: "✕", tone: "bad" };
    case "stopped":
      return { label: "cancelled here", symbol: "⊘", tone: "halt" };
    case "pending":
      return { label: "not reached yet", symbol: "○", tone: "idle" };
    case "skipped":
      return { label: "not reached", symbol: "–", tone: "idle" };
    default:
      return { label: status.replace(/_/g, " "), symbol: "•", tone: "idle" };
  }
}

/** The statuses a node can have, for the graph's legend. */
export const NODE_STATUSES = ["succeeded", "running", "waiting", "failed", "stopped", "pending", "skipped"] as const;

/** How many times each node was retried (Step Functions retried its Task): `node.retried`
 * events. A node entered again after an approval is not a retry. */
export function retriesByNode(events: readonly RunEvent[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const event of events) {
    if (event.type === "node.retried" && event.node) counts[event.node] = (counts[event.node] ?? 0) + 1;
  }
  return counts;
}

/** Who did something, from the API's actor strings (`token:<id>`, `policy:timeout`). */
export function formatActor(actor: unknown): string {
  if (typeof actor !== "string" || !actor) return "someone";
  if (actor === "policy:timeout") return "the timeout policy";
  if (actor === "run:cancelled") return "the run's cancellation";
  const [kind, rest] = actor.split(/:(.*)/s, 2);
  if (kind === "token" && rest) return `token ${rest.slice(0, 8)}`;
  if (kind === "policy" && rest) return `the ${rest.replace(/_/g, " ")} policy`;
  return actor;
}

/** Seconds the run took (or has taken so far, while it is still moving). */
export function runDurationSeconds(
  run: Pick<Run, "created_at" | "started_at" | "finished_at">,
  now: Date = new Date(),
): number | null {
  const start = Date.parse(run.started_at ?? run.created_at);
  const end = run.finished_at ? Date.parse(run.finished_at) : now.getTime();
  if (!Number.isFinite(start) || !Number.isFinite(end)) return null;
  return Math.max(0, (end - start) / 1000);
}

export interface TimelineRow {
  id: number;
  type: string;
  at: string;
  /** Seconds since the run was created. */
  offsetSeconds: number | null;
  title: string;
  node: string | null;
  /** 1 for the first try of a node, 2 for its first retry… (the API counts retries from 0). */
  attempt: number | null;
  durationMs: number | null;
  error: { type: string | null; message: string | null } | null;
  detail: string | null;
  /** A run this event points at (a re-run's new run). */
  linkedRunId: string | null;
  tone: Tone;
}

function str(value: unknown): string | null {
  return typeof value === "string" && value ? value : null;
}

function eventTitle(event: RunEvent): { title: string; detail: string | null; tone: Tone } {
  const node = event.node ?? "a node";
  const data = event.data ?? {};
  switch (event.type) {
    case "run.queued": {
      const source = str(data.source);
      return { title: "Run queued", detail: source ? `started by ${source}` : null, tone: "idle" };
    }
    case "run.started":
      return { title: "Run started", detail: null, tone: "info" };
    case "run.succeeded":
      return { title: "Run succeeded", detail: null, tone: "ok" };
    case "run.failed":
      return { title: "Run failed", detail: event.node ? `in ${event.node}` : null, tone: "bad" };
    case "run.cancelled": {
      const withdrawn = typeof data.withdrawn_approvals === "number" ? data.withdrawn_approvals : 0;
      const parts = [`by ${formatActor(data.by)}`];
      if (withdrawn) parts.push(`${withdrawn} open approval${withdrawn === 1 ? "" : "s"} withdrawn`);
      return { title: "Run cancelled", detail: parts.join("; "), tone: "idle" };
    }
    case "run.redriven":
      return {
        title: `Continued from ${node} after the failure`,
        detail: `by ${formatActor(data.by)}${typeof data.attempt === "number" ? ` (redrive ${data.attempt})` : ""}`,
        tone: "info",
      };
    case "run.rerun":
      return { title: "Started again as a new run", detail: `by ${formatActor(data.by)}`, tone: "info" };
    case "node.entered":
      return { title: `${node} started`, detail: null, tone: "info" };
    case "node.succeeded":
      return { title: `${node} succeeded`, detail: null, tone: "ok" };
    case "node.interrupted":
      return { title: `${node} asked for approval`, detail: null, tone: "warn" };
    case "node.failed":
      return { title: `${node} failed`, detail: null, tone: "bad" };
    case "node.retried":
      return { title: `${node} retried`, detail: null, tone: "warn" };
    case "approval.waiting": {
      const expires = str(data.expires_at);
      return {
        title: "Waiting for approval",
        detail: expires ? `expires ${new Date(expires).toLocaleString()}` : null,
        tone: "warn",
      };
    }
    case "approval.approved":
    case "approval.rejected":
    case "approval.edited": {
      const verb = event.type.split(".")[1];
      const comment = str(data.comment);
      const who = str(data.decided_by);
      return {
        title: `${verb[0].toUpperCase()}${verb.slice(1)}${who ? ` by ${formatActor(who)}` : ""}`,
        detail: comment ? `“${comment}”` : null,
        tone: verb === "rejected" ? "bad" : "ok",
      };
    }
    case "approval.timed_out": {
      const action = str(data.default_action);
      return {
        title: "Approval timed out",
        detail: action ? `the policy's default applied: ${action}` : null,
        tone: "warn",
      };
    }
    case "approval.escalated":
      return { title: "Approval escalated", detail: `now waits for ${str(data.to) ?? "an admin"}`, tone: "warn" };
    case "model.used": {
      const tokensIn = typeof data.input_tokens === "number" ? data.input_tokens : 0;
      const tokensOut = typeof data.output_tokens === "number" ? data.output_tokens : 0;
      const what = data.kind === "embedding" ? "embedded with" : "asked";
      return {
        title: `${node} ${what} ${str(data.model) ?? "a model"}`,
        detail: `${str(data.task) ?? "a task"}: ${tokensIn} tokens in${data.kind === "embedding" ? "" : `, ${tokensOut} out`}`,
        tone: "idle",
      };
    }
    case "knowledge.cited":
      return { title: `${node} found knowledge`, detail: citedDetail(data), tone: "info" };
    default:
      return { title: event.type, detail: null, tone: "idle" };
  }
}

/** The chunks a retrieval found: "faq.md › Resetting a password (vector #1, text #2)", …; the
 * query first. */
export function citedDetail(data: Record<string, unknown>): string {
  const chunks = Array.isArray(data.chunks) ? (data.chunks as Record<string, unknown>[]) : [];
  const query = str(data.query);
  if (!chunks.length) return query ? `nothing matched “${query}”` : "nothing matched";
  const cited = chunks.map((c) => {
    const heading = str(c.heading)?.split(" > ").pop();
    const ranks = [
      typeof c.vector_rank === "number" ? `vector #${c.vector_rank}` : null,
      typeof c.text_rank === "number" ? `text #${c.text_rank}` : null,
    ].filter(Boolean);
    return `${str(c.filename) ?? "a document"}${heading ? ` › ${heading}` : ""}${ranks.length ? ` (${ranks.join(", ")})` : ""}`;
  });
  return `${query ? `for “${query}”: ` : ""}${cited.join("; ")}`;
}

/** The run's events, oldest first, in words, each with its offset from the run's creation. */
export function timelineRows(run: Pick<Run, "created_at" | "events">): TimelineRow[] {
  const origin = Date.parse(run.created_at);
  return [...run.events]
    .sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || a.id - b.id)
    .map((event) => {
      const { title, detail, tone } = eventTitle(event);
      const at = Date.parse(event.created_at);
      const hasError = Boolean(event.error_type || event.error_message);
      return {
        id: event.id,
        type: event.type,
        at: event.created_at,
        offsetSeconds: Number.isFinite(origin) && Number.isFinite(at) ? Math.max(0, (at - origin) / 1000) : null,
        title,
        node: event.node,
        attempt: typeof event.attempt === "number" ? event.attempt + 1 : null,
        durationMs: event.duration_ms,
        error: hasError ? { type: event.error_type, message: event.error_message } : null,
        detail,
        linkedRunId: event.type === "run.rerun" && isUuid(str(event.data?.new_run_id)) ? (event.data.new_run_id as string) : null,
        tone,
      };
    });
}

export interface Failure {
  type: string | null;
  message: string | null;
  node: string | null;
}

/** Why the run failed: the run's own reason, else its last failed node's. Null when it did not
 * fail. */
export function failureOf(run: Pick<Run, "status" | "error_type" | "error_message" | "failed_node" | "events">): Failure | null {
  if (run.status !== "failed" && !run.error_type) return null;
  if (run.error_type || run.error_message) {
    return { type: run.error_type, message: run.error_message, node: run.failed_node };
  }
  const last = [...run.events].reverse().find((e) => e.type === "node.failed" || e.type === "run.failed");
  return {
    type: last?.error_type ?? null,
    message: last?.error_message ?? null,
    node: run.failed_node ?? last?.node ?? null,
  };
}

export interface FieldChange {
  field: string;
  before: unknown;
  after: unknown;
  changed: boolean;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Field by field, what an edit changed, when both the draft and the edit are objects (the
 * draft's fields first, then the edit's new ones); null otherwise. */
export function fieldChanges(before: unknown, after: unknown): FieldChange[] | null {
  if (!isRecord(before) || !isRecord(after)) return null;
  const fields = [...Object.keys(before), ...Object.keys(after).filter((k) => !(k in before))];
  return fields.map((field) => ({
    field,
    before: before[field],
    after: after[field],
    changed: !same(before[field], after[field]),
  }));
}

export interface ApprovalView {
  id: string;
  node: string;
  status: string;
  summary: string | null;
  reasons: string[];
  requestedAt: string;
  expiresAt: string;
  decidedAt: string | null;
  decidedBy: string | null;
  /** How long the request waited for a decision (or has waited so far). */
  waitSeconds: number;
  /** approve / reject / edit, as decided (by a person or the timeout policy). */
  decision: string | null;
  comment: string | null;
  /** The draft the request showed, and what the person sent instead (edits only). */
  before: unknown;
  after: unknown;
  edited: boolean;
  changes: FieldChange[] | null;
}

export function approvalView(approval: Approval): ApprovalView {
  const request = isRecord(approval.request) ? approval.request : {};
  const decision = isRecord(approval.decision) ? approval.decision : null;
  const edited = approval.status === "edited" || decision?.decision === "edit";
  const before = edited ? request.draft : undefined;
  const after = edited ? decision?.payload : undefined;
  return {
    id: approval.id,
    node: approval.node,
    status: approval.status,
    summary: str(request.summary),
    reasons: Array.isArray(request.reasons) ? request.reasons.filter((r): r is string => typeof r === "string") : [],
    requestedAt: approval.created_at,
    expiresAt: approval.expires_at,
    decidedAt: approval.decided_at,
    decidedBy: approval.decided_by ? formatActor(approval.decided_by) : null,
    waitSeconds: approval.age_seconds,
    decision: str(decision?.decision),
    comment: str(decision?.comment),
    before,
    after,
    edited,
    changes: edited ? fieldChanges(before, after) : null,
  };
}

/** A value from a payload as text: strings as they are, everything else as JSON. */
export function displayValue(value: unknown): string {
  if (value === undefined || value === null) return "—";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value, null, 2);
}

/** The label and score patterns the API enforces (`^[a-z0-9][a-z0-9_:-]{0,63}$`). */
export const LABEL_PATTERN = /^[a-z0-9][a-z0-9_:-]{0,63}$/;

export type AnnotationDraft =
  | { kind: "comment"; body: string; node: string }
  | { kind: "label"; label: string; node: string }
  | { kind: "score"; score: string; metric: string; node: string };

export type AnnotationBody = Schemas["CommentIn"] | Schemas["LabelIn"] | Schemas["ScoreIn"];

/** Check an annotation form the way the API will, so most mistakes are caught before sending:
 * the body to send, or the field and what is wrong with it. */
export function annotationBody(
  draft: AnnotationDraft,
): { ok: true; body: AnnotationBody } | { ok: false; field: string; message: string } {
  const node = draft.node ? draft.node : null;
  switch (draft.kind) {
    case "comment": {
      const body = draft.body.trim();
      if (!body) return { ok: false, field: "body", message: "Write a comment." };
      if (body.length > 4000) return { ok: false, field: "body", message: "A comment is at most 4,000 characters." };
      return { ok: true, body: { kind: "comment", body, node } };
    }
    case "label": {
      const label = draft.label.trim();
      if (!LABEL_PATTERN.test(label)) {
        return {
          ok: false,
          field: "label",
          message:
            "A label is 1–64 lower-case letters, digits, _ : or -, starting with a letter or digit (e.g. needs_review).",
        };
      }
      return { ok: true, body: { kind: "label", label, node } };
    }
    case "score": {
      const text = draft.score.trim();
      const score = Number(text);
      if (!text || !Number.isFinite(score) || score < 0 || score > 1) {
        return { ok: false, field: "score", message: "A score is a number from 0 to 1 (e.g. 0.8)." };
      }
      const metric = draft.metric.trim();
      if (metric && !LABEL_PATTERN.test(metric)) {
        return {
          ok: false,
          field: "metric",
          message: "A metric is 1–64 lower-case letters, digits, _ : or - (e.g. tone).",
        };
      }
      return { ok: true, body: { kind: "score", score, metric: metric || null, node } };
    }
  }
}
