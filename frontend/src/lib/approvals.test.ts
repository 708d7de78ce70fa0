import { describe, expect, it } from "vitest";

import {
  decideBlocker,
  decisionRefusal,
  inboxCount,
  keepWatching,
  loadPages,
  nextCursor,
  oldestFirst,
  requestView,
  timing,
  type Approval,
} from "./approvals";

describe("reading a request", () => {
  it("reads the support-triage review request", () => {
    const view = requestView({
      kind: "reply_review",
      summary: "Review the reply to ticket T-1",
      reasons: ["the customer asks for a refund"],
      draft: { reply: "Hello", confidence: 0.4 },
      edit_schema: { type: "object", properties: { reply: { type: "string" } } },
      ticket_channel: "email",
    });
    expect(view.summary).toBe("Review the reply to ticket T-1");
    expect(view.kind).toBe("reply_review");
    expect(view.reasons).toEqual(["the customer asks for a refund"]);
    expect(view.draft).toEqual({ reply: "Hello", confidence: 0.4 });
    expect(view.hasDraft).toBe(true);
    expect(view.editSchema).not.toBeNull();
    expect(view.rest).toEqual({ ticket_channel: "email" });
  });

  it("keeps a request that is not an object as raw", () => {
    const view = requestView("approve the refund?");
    expect(view.raw).toBe("approve the refund?");
    expect(view.editSchema).toBeNull();
    expect(requestView({ summary: 3 }).summary).toBeNull();
  });
});

describe("timing", () => {
  const created_at = "2025-03-20T10:00:00Z";
  const expires_at = "2025-03-21T10:00:00Z";

  it("gives the age and the time left", () => {
    expect(timing({ created_at, expires_at }, new Date("2025-03-20T13:05:30Z"))).toEqual({
      age: "waiting 3 h 5 min",
      left: "20 h 54 min left",
      urgency: "ok",
    });
  });

  it("warns when the deadline nears, and says when it passed", () => {
    expect(timing({ created_at, expires_at }, new Date("2025-03-21T05:00:00Z")).urgency).toBe("soon");
    expect(timing({ created_at, expires_at }, new Date("2025-03-21T10:10:00Z"))).toMatchObject({
      left: "expired 10 min ago",
      urgency: "expired",
    });
    expect(timing({ created_at, expires_at: "2025-03-20T10:30:00Z" }, new Date("2025-03-20T10:00:20Z"))).toMatchObject({
      age: "waiting 20 s",
      urgency: "ok",
    });
  });
});

describe("who decides", () => {
  it("needs an operator, and an admin once escalated", () => {
    expect(decideBlocker("viewer", "pending")).toMatch(/operator token/);
    expect(decideBlocker("operator", "pending")).toBeNull();
    expect(decideBlocker("operator", "escalated")).toMatch(/admin/);
    expect(decideBlocker("admin", "escalated")).toBeNull();
  });
});

describe("refusals", () => {
  it("says in words what 409, 410 and 403 mean", () => {
    expect(decisionRefusal(409, "approval x was already decided: approved").title).toBe("Someone already decided this request.");
    expect(decisionRefusal(410, "approval x expired at 2025-…").title).toMatch(/expired/);
    expect(decisionRefusal(410, "approval x was withdrawn: its run was cancelled").title).toMatch(/withdrawn/);
    expect(decisionRefusal(403, "approval x was escalated to admins").title).toBe("Your role cannot decide this request.");
  });

  it("keeps the API's specifics without the request's id", () => {
    expect(decisionRefusal(409, "approval 46538a6a-aaa1-44f2-8dd2-5fababacf97f was already decided: rejected").detail).toBe(
      "It was already decided: rejected.",
    );
  });
});

describe("order and watching", () => {
  it("sorts oldest first", () => {
    const a = { id: "b", created_at: "2025-03-20T10:00:00Z" } as Approval;
    const b = { id: "a", created_at: "2025-03-19T10:00:00Z" } as Approval;
    expect(oldestFirst([a, b]).map((x) => x.id)).toEqual(["a", "b"]);
  });

  it("watches a run until it settles, within a limit", () => {
    expect(keepWatching(null, 0, 1000)).toBe(true);
    expect(keepWatching("waiting_for_approval", 0, 1000)).toBe(true);
    expect(keepWatching("waiting_for_approval", 0, 6000)).toBe(false);
    expect(keepWatching("running", 0, 6000)).toBe(true);
    expect(keepWatching("succeeded", 0, 1000)).toBe(false);
    expect(keepWatching("running", 0, 20000)).toBe(false);
  });
});

describe("inboxCount", () => {
  const waiting = (n: number, escalated = 0) =>
    Array.from({ length: n }, (_, i) => ({ id: `a${i}`, status: i < escalated ? "escalated" : "pending" }) as Approval);

  it("counts what waits, and says how many are escalated", () => {
    expect(inboxCount([])).toBe("Nothing waits for a decision.");
    expect(inboxCount(waiting(3))).toBe("3 waiting.");
    expect(inboxCount(waiting(3, 1))).toBe("3 waiting, 1 of them escalated to admins.");
    expect(inboxCount(waiting(200))).toBe("200 waiting.");
  });

  it("never shows a count that is too low when more wait than were loaded", () => {
    expect(inboxCount(waiting(200), true)).toBe("More than 200 waiting; the 200 oldest are shown.");
    expect(inboxCount(waiting(400, 3), true)).toBe(
      "More than 400 waiting; the 400 oldest are shown, 3 of them escalated to admins.",
    );
  });
});

describe("nextCursor", () => {
  it("reads the cursor of the API's next-page link", () => {
    expect(nextCursor('<?status=pending&status=escalated&limit=200&cursor=MjAyNi0xMi0wMVQ%3D>; rel="next"')).toBe(
      "MjAyNi0xMi0wMVQ=",
    );
  });

  it("finds the next link among others, whatever the spacing and case", () => {
    expect(nextCursor('</v1/approvals?cursor=a>; rel="prev", </v1/approvals?limit=2&cursor=b>;rel=NEXT')).toBe("b");
  });

  it("is null when there is no next page", () => {
    expect(nextCursor(null)).toBeNull();
    expect(nextCursor("")).toBeNull();
    expect(nextCursor('<?cursor=a>; rel="prev"')).toBeNull();
    expect(nextCursor('<?limit=2>; rel="next"')).toBeNull();
  });
});

describe("loadPages", () => {
  // A server of `total` waiting requests in pages of `size`, answering as the API does.
  function server(total: number, size: number) {
    const all = Array.from({ length: total }, (_, i) => ({ id: `a${i}`, status: "pending" }) as Approval);
    const asked: (string | null)[] = [];
    const fetchPage = async (cursor: string | null) => {
      asked.push(cursor);
      const start = cursor === null ? 0 : Number(cursor);
      const items = all.slice(start, start + size);
      const end = start + items.length;
      return { items, link: end < total ? `<?status=pending&limit=${size}&cursor=${end}>; rel="next"` : null };
    };
    return { fetchPage, asked };
  }

  it("reads one page and says whether more wait", async () => {
    const { fetchPage, asked } = server(5, 2);
    expect(await loadPages(1, fetchPage)).toEqual({ items: [expect.objectContaining({ id: "a0" }), expect.objectContaining({ id: "a1" })], more: true });
    expect(asked).toEqual([null]);
  });

  it("follows each page's cursor to the next, in order", async () => {
    const { fetchPage, asked } = server(5, 2);
    const loaded = await loadPages(2, fetchPage);
    expect(loaded.items.map((a) => a.id)).toEqual(["a0", "a1", "a2", "a3"]);
    expect(loaded.more).toBe(true);
    expect(asked).toEqual([null, "2"]);
  });

  it("stops at the last page, asking no further", async () => {
    const { fetchPage, asked } = server(5, 2);
    const loaded = await loadPages(10, fetchPage);
    expect(loaded.items.map((a) => a.id)).toEqual(["a0", "a1", "a2", "a3", "a4"]);
    expect(loaded.more).toBe(false);
    expect(asked).toEqual([null, "2", "4"]);
  });

  it("is not 'more' when a full page is the last one", async () => {
    const { fetchPage } = server(4, 2);
    expect((await loadPages(2, fetchPage)).more).toBe(false);
  });
});
