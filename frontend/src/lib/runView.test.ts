import { describe, expect, it } from "vitest";

import {
  annotationBody,
  citedDetail,
  approvalView,
  displayValue,
  failureOf,
  fieldChanges,
  formatActor,
  isUuid,
  nodeStatusInfo,
  retriesByNode,
  runDurationSeconds,
  runHref,
  timelineRows,
  type Approval,
  type RunEvent,
} from "./runView";

let nextId = 1;
function event(type: string, extra: Partial<RunEvent> = {}): RunEvent {
  return {
    id: nextId++,
    type,
    node: null,
    attempt: null,
    duration_ms: null,
    error_type: null,
    error_message: null,
    data: {},
    created_at: "2025-01-01T10:00:00Z",
    ...extra,
  };
}

const RUN_ID = "0f8a12c4-5b2e-4c3d-9e1f-123456789abc";

describe("ids", () => {
  it("isUuid accepts run ids only", () => {
    expect(isUuid(RUN_ID)).toBe(true);
    expect(isUuid(RUN_ID.toUpperCase())).toBe(true);
    expect(isUuid("not-a-run")).toBe(false);
    expect(isUuid("")).toBe(false);
    expect(isUuid(null)).toBe(false);
    expect(isUuid(`${RUN_ID}x`)).toBe(false);
  });

  it("runHref points at the detail page", () => {
    expect(runHref(RUN_ID)).toBe(`/runs/detail/?id=${RUN_ID}`);
  });
});

describe("nodeStatusInfo", () => {
  it("gives every status words and a symbol", () => {
    for (const status of ["succeeded", "running", "waiting", "failed", "stopped", "pending", "skipped"]) {
      const info = nodeStatusInfo(status);
      expect(info.label.length).toBeGreaterThan(0);
      expect(info.symbol.length).toBeGreaterThan(0);
    }
    expect(nodeStatusInfo("skipped").label).toBe("not reached");
    expect(nodeStatusInfo("pending").label).toBe("not reached yet");
    expect(nodeStatusInfo("waiting").tone).toBe("warn");
    // Reached, then cancelled: not drawn as a node the run never got to.
    expect(nodeStatusInfo("stopped").label).toBe("cancelled here");
    expect(nodeStatusInfo("stopped").tone).not.toBe(nodeStatusInfo("skipped").tone);
    expect(nodeStatusInfo("something_new").label).toBe("something new");
  });
});

describe("retries and actors", () => {
  it("counts node.retried events per node", () => {
    const events = [
      event("node.entered", { node: "act", attempt: 0 }),
      event("node.failed", { node: "act", attempt: 0 }),
      event("node.retried", { node: "act", attempt: 1 }),
      event("node.entered", { node: "act", attempt: 1 }),
      event("node.retried", { node: "act", attempt: 2 }),
      event("node.entered", { node: "decide", attempt: 0 }),
    ];
    expect(retriesByNode(events)).toEqual({ act: 2 });
  });

  it("formatActor names tokens and policies", () => {
    expect(formatActor("token:3f0c1d2e-aaaa-bbbb-cccc-000000000000")).toBe("token 3f0c1d2e");
    expect(formatActor("policy:timeout")).toBe("the timeout policy");
    expect(formatActor("run:cancelled")).toBe("the run's cancellation");
    expect(formatActor(null)).toBe("someone");
    expect(formatActor("admin@agency")).toBe("admin@agency");
  });
});

describe("runDurationSeconds", () => {
  it("measures from start to finish, or to now while running", () => {
    const run = { created_at: "2025-01-01T10:00:00Z", started_at: "2025-01-01T10:00:02Z", finished_at: null };
    expect(runDurationSeconds(run, new Date("2025-01-01T10:00:12Z"))).toBe(10);
    expect(runDurationSeconds({ ...run, finished_at: "2025-01-01T10:01:02Z" })).toBe(60);
    expect(runDurationSeconds({ ...run, started_at: null, finished_at: "2025-01-01T10:00:30Z" })).toBe(30);
  });
});

describe("timelineRows", () => {
  it("puts events in order, in words, with offsets, attempts and errors", () => {
    const rows = timelineRows({
      created_at: "2025-01-01T10:00:00Z",
      events: [
        event("node.failed", {
          id: 3,
          node: "act",
          attempt: 0,
          duration_ms: 120,
          error_type: "TransientError",
          error_message: "the CRM timed out",
          created_at: "2025-01-01T10:00:05Z",
        }),
        event("run.queued", { id: 1, data: { source: "webhook" }, created_at: "2025-01-01T10:00:00Z" }),
        event("node.retried", { id: 4, node: "act", attempt: 1, created_at: "2025-01-01T10:00:07Z" }),
        event("run.started", { id: 2, created_at: "2025-01-01T10:00:01Z" }),
      ],
    });
    expect(rows.map((r) => r.id)).toEqual([1, 2, 3, 4]);
    expect(rows[0]).toMatchObject({ title: "Run queued", detail: "started by webhook", offsetSeconds: 0 });
    expect(rows[2]).toMatchObject({
      title: "act failed",
      attempt: 1,
      durationMs: 120,
      offsetSeconds: 5,
      error: { type: "TransientError", message: "the CRM timed out" },
      tone: "bad",
    });
    expect(rows[3]).toMatchObject({ title: "act retried", attempt: 2, error: null });
  });

  it("describes decisions, cancellations and re-runs", () => {
    const newRun = "11111111-2222-4333-8444-555555555555";
    const rows = timelineRows({
      created_at: "2025-01-01T10:00:00Z",
      events: [
        event("approval.edited", { node: "decide", data: { decided_by: "token:abcdef12-0000", comment: "softer" } }),
        event("approval.timed_out", { node: "decide", data: { default_action: "reject" } }),
        event("run.cancelled", { data: { by: "token:99998888-x", withdrawn_approvals: 1 } }),
        event("run.rerun", { data: { by: "token:99998888-x", new_run_id: newRun } }),
        event("approval.approved", { node: "decide" }),
        event("run.redriven", { node: "act", data: { by: "token:99998888-x", attempt: 1 } }),
        event("something.new"),
      ],
    });
    expect(rows[0]).toMatchObject({ title: "Edited by token abcdef12", detail: "“softer”", tone: "ok" });
    expect(rows[1]).toMatchObject({ title: "Approval timed out", detail: "the policy's default applied: reject" });
    expect(rows[2]).toMatchObject({ title: "Run cancelled", detail: "by token 99998888; 1 open approval withdrawn" });
    expect(rows[3]).toMatchObject({ title: "Started again as a new run", linkedRunId: newRun });
    expect(rows[4]).toMatchObject({ title: "Approved", detail: null });
    expect(rows[5]).toMatchObject({ title: "Continued from act after the failure", detail: "by token 99998888 (redrive 1)" });
    expect(rows[6]).toMatchObject({ title: "something.new" });
  });
});

describe("failureOf", () => {
  const base = { status: "failed", error_type: null, error_message: null, failed_node: null, events: [] as RunEvent[] };

  it("is null for a run that did not fail", () => {
    expect(failureOf({ ...base, status: "succeeded" })).toBeNull();
  });

  it("takes the run's own reason", () => {
    expect(
      failureOf({ ...base, error_type: "ValueError", error_message: "bad input", failed_node: "plan" }),
    ).toEqual({ type: "ValueError", message: "bad input", node: "plan" });
  });

  it("falls back to the last failed node's event", () => {
    const events = [event("node.failed", { node: "act", error_type: "Boom", error_message: "it broke" })];
    expect(failureOf({ ...base, events })).toEqual({ type: "Boom", message: "it broke", node: "act" });
  });
});

describe("approvals", () => {
  const approval: Approval = {
    id: "5b2e0000-0000-4000-8000-000000000000",
    run_id: RUN_ID,
    node: "decide",
    status: "edited",
    request: {
      summary: "Review the reply to ticket T-1001",
      reasons: ["the customer asks for a refund", 7],
      draft: { reply: "We will look into it.", confidence: 0.62 },
    },
    decision: { decision: "edit", payload: { reply: "We have refunded the duplicate charge." }, comment: "be concrete" },
    decided_by: "token:abcdef12-3456",
    decided_at: "2025-01-01T10:05:00Z",
    expires_at: "2025-01-02T10:00:00Z",
    created_at: "2025-01-01T10:00:00Z",
    age_seconds: 300,
  };

  it("shows who decided what, when, and what the edit changed", () => {
    const view = approvalView(approval);
    expect(view).toMatchObject({
      node: "decide",
      status: "edited",
      summary: "Review the reply to ticket T-1001",
      reasons: ["the customer asks for a refund"],
      decidedBy: "token abcdef12",
      decidedAt: "2025-01-01T10:05:00Z",
      decision: "edit",
      comment: "be concrete",
      edited: true,
      waitSeconds: 300,
    });
    expect(view.changes).toEqual([
      { field: "reply", before: "We will look into it.", after: "We have refunded the duplicate charge.", changed: true },
      { field: "confidence", before: 0.62, after: undefined, changed: true },
    ]);
  });

  it("has no before/after for an approval as drafted, nor for one still pending", () => {
    const approved = approvalView({ ...approval, status: "approved", decision: { decision: "approve", payload: null } });
    expect(approved).toMatchObject({ edited: false, changes: null, decision: "approve", comment: null });
    expect(approved.before).toBeUndefined();
    const pending = approvalView({ ...approval, status: "pending", decision: null, decided_by: null, decided_at: null });
    expect(pending).toMatchObject({ edited: false, decision: null, decidedBy: null });
  });

  it("fieldChanges marks unchanged fields and needs two objects", () => {
    expect(fieldChanges({ a: 1, b: [1] }, { a: 1, b: [2], c: "new" })).toEqual([
      { field: "a", before: 1, after: 1, changed: false },
      { field: "b", before: [1], after: [2], changed: true },
      { field: "c", before: undefined, after: "new", changed: true },
    ]);
    expect(fieldChanges("old text", "new text")).toBeNull();
    expect(fieldChanges({ a: 1 }, [1])).toBeNull();
  });

  it("displayValue shows text as it is and the rest as JSON", () => {
    expect(displayValue("hello")).toBe("hello");
    expect(displayValue(0.5)).toBe("0.5");
    expect(displayValue(null)).toBe("—");
    expect(displayValue({ a: 1 })).toBe('{\n  "a": 1\n}');
  });
});

describe("annotationBody", () => {
  it("builds each kind, the node optional", () => {
    expect(annotationBody({ kind: "comment", body: "  looks right ", node: "" })).toEqual({
      ok: true,
      body: { kind: "comment", body: "looks right", node: null },
    });
    expect(annotationBody({ kind: "label", label: "needs_review", node: "decide" })).toEqual({
      ok: true,
      body: { kind: "label", label: "needs_review", node: "decide" },
    });
    expect(annotationBody({ kind: "score", score: "0.8", metric: "tone", node: "" })).toEqual({
      ok: true,
      body: { kind: "score", score: 0.8, metric: "tone", node: null },
    });
    expect(annotationBody({ kind: "score", score: "1", metric: "", node: "" })).toEqual({
      ok: true,
      body: { kind: "score", score: 1, metric: null, node: null },
    });
  });

  it("refuses what the API would", () => {
    expect(annotationBody({ kind: "comment", body: "   ", node: "" })).toMatchObject({ ok: false, field: "body" });
    expect(annotationBody({ kind: "comment", body: "x".repeat(4001), node: "" })).toMatchObject({ ok: false, field: "body" });
    expect(annotationBody({ kind: "label", label: "Needs Review", node: "" })).toMatchObject({ ok: false, field: "label" });
    expect(annotationBody({ kind: "score", score: "1.5", metric: "", node: "" })).toMatchObject({ ok: false, field: "score" });
    expect(annotationBody({ kind: "score", score: "", metric: "", node: "" })).toMatchObject({ ok: false, field: "score" });
    expect(annotationBody({ kind: "score", score: "abc", metric: "", node: "" })).toMatchObject({ ok: false, field: "score" });
    expect(annotationBody({ kind: "score", score: "0.5", metric: "Tone!", node: "" })).toMatchObject({ ok: false, field: "metric" });
  });
});

describe("citedDetail", () => {
  it("names each cited chunk with its document, section and ranks", () => {
    expect(
      citedDetail({
        query: "reset password",
        chunks: [
          { filename: "faq.md", heading: "FAQ > Account > Resetting a password", vector_rank: 1, text_rank: 2 },
          { filename: "help.html", heading: "", vector_rank: 3, text_rank: null },
        ],
      }),
    ).toBe("for “reset password”: faq.md › Resetting a password (vector #1, text #2); help.html (vector #3)");
  });

  it("says when nothing matched", () => {
    expect(citedDetail({ query: "xyz", chunks: [] })).toBe("nothing matched “xyz”");
  });
});
