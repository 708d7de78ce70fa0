import { describe, expect, it } from "vitest";

import {
  NO_FILTERS,
  filtersToSearch,
  hasFilters,
  isMoving,
  isoToLocalInput,
  localInputToIso,
  normaliseInstant,
  parseRunFilters,
  rangeProblem,
  toListQuery,
  withFilters,
} from "./runFilters";

const parse = (qs: string) => parseRunFilters(new URLSearchParams(qs));

describe("parseRunFilters", () => {
  it("reads nothing from an empty query", () => {
    expect(parse("")).toEqual(NO_FILTERS);
  });

  it("reads every filter", () => {
    const filters = parse(
      "status=failed&status=running&workflow=support_triage&source=webhook" +
        "&since=2025-01-01T00:00:00Z&until=2025-02-01T00:00:00Z&trigger_id=T-1001&cursor=WyIy_-",
    );
    expect(filters).toEqual({
      statuses: ["running", "failed"],
      workflow: "support_triage",
      source: "webhook",
      since: "2025-01-01T00:00:00Z",
      until: "2025-02-01T00:00:00Z",
      triggerId: "T-1001",
      cursor: "WyIy_-",
    });
  });

  it("keeps statuses in one order, once each, and accepts a comma list", () => {
    expect(parse("status=failed,queued&status=failed").statuses).toEqual(["queued", "failed"]);
  });

  it("drops what the API would refuse", () => {
    const filters = parse(
      "status=exploded&source=carrier-pigeon&since=yesterday&until=2025-13-45&cursor=%3Cscript%3E",
    );
    expect(filters).toEqual(NO_FILTERS);
  });

  it("trims text and cuts it to the API's limits", () => {
    const filters = parse(`workflow=${"w".repeat(60)}&trigger_id=%20%20T-9%20`);
    expect(filters.workflow).toHaveLength(48);
    expect(filters.triggerId).toBe("T-9");
    expect(parse(`trigger_id=${"x".repeat(300)}`).triggerId).toHaveLength(200);
  });

  it("normalises instants with an offset to UTC", () => {
    expect(parse("since=2025-03-01T10:00:00%2B02:00").since).toBe("2025-03-01T08:00:00Z");
    expect(parse("since=2025-03-01").since).toBe("2025-03-01T00:00:00Z");
  });
});

describe("filtersToSearch", () => {
  it("is empty for no filters", () => {
    expect(filtersToSearch(NO_FILTERS)).toBe("");
  });

  it("round-trips through parseRunFilters", () => {
    const filters = {
      statuses: ["queued", "waiting_for_approval"] as const,
      workflow: "support triage",
      source: "api" as const,
      since: "2025-01-01T00:00:00Z",
      until: "",
      triggerId: "ticket #12",
      cursor: "abc",
    };
    const qs = filtersToSearch({ ...filters, statuses: [...filters.statuses] });
    expect(qs).toBe(
      "status=queued&status=waiting_for_approval&workflow=support+triage&source=api" +
        "&since=2025-01-01T00%3A00%3A00Z&trigger_id=ticket+%2312&cursor=abc",
    );
    expect(parse(qs)).toEqual({ ...filters, statuses: [...filters.statuses] });
  });
});

describe("toListQuery", () => {
  it("asks for the newest page with nothing else by default", () => {
    expect(toListQuery(NO_FILTERS)).toEqual({ sort: "-created_at", limit: 50 });
  });

  it("maps the filters onto the API's parameters", () => {
    const query = toListQuery(
      parse("status=failed&workflow=w&source=schedule&since=2025-01-01&until=2025-01-02&trigger_id=T&cursor=c"),
      10,
    );
    expect(query).toEqual({
      sort: "-created_at",
      limit: 10,
      status: ["failed"],
      workflow: "w",
      source: "schedule",
      created_after: "2025-01-01T00:00:00Z",
      created_before: "2025-01-02T00:00:00Z",
      trigger_id: "T",
      cursor: "c",
    });
  });
});

describe("filter helpers", () => {
  it("hasFilters ignores the page position", () => {
    expect(hasFilters({ ...NO_FILTERS, cursor: "abc" })).toBe(false);
    expect(hasFilters({ ...NO_FILTERS, triggerId: "T-1" })).toBe(true);
    expect(hasFilters({ ...NO_FILTERS, statuses: ["failed"] })).toBe(true);
  });

  it("withFilters goes back to the newest page", () => {
    const next = withFilters({ ...NO_FILTERS, cursor: "abc" }, { workflow: "w" });
    expect(next).toEqual({ ...NO_FILTERS, workflow: "w" });
  });

  it("rangeProblem flags a range that ends before it starts", () => {
    const range = { ...NO_FILTERS, since: "2025-02-01T00:00:00Z", until: "2025-01-01T00:00:00Z" };
    expect(rangeProblem(range)).toMatch(/before its end/);
    expect(rangeProblem({ ...range, until: "2025-03-01T00:00:00Z" })).toBeNull();
    expect(rangeProblem({ ...range, until: "" })).toBeNull();
  });

  it("isMoving is true for runs that can still change", () => {
    expect(["queued", "running", "waiting_for_approval"].every(isMoving)).toBe(true);
    expect(["succeeded", "failed", "cancelled"].some(isMoving)).toBe(false);
  });
});

describe("instants and datetime-local inputs", () => {
  it("normaliseInstant refuses what is not a date", () => {
    expect(normaliseInstant("")).toBe("");
    expect(normaliseInstant(null)).toBe("");
    expect(normaliseInstant("1700000000")).toBe("");
    expect(normaliseInstant("2025-01-01T10:00:00.123Z")).toBe("2025-01-01T10:00:00Z");
  });

  it("converts between local input values and UTC instants", () => {
    const iso = localInputToIso("2025-01-02T10:30");
    expect(iso).toBe(new Date(2025, 0, 2, 10, 30).toISOString().replace(".000Z", "Z"));
    expect(isoToLocalInput(iso)).toBe("2025-01-02T10:30");
  });

  it("gives empty values for empty or malformed input", () => {
    expect(localInputToIso("")).toBe("");
    expect(localInputToIso("2025-01-02")).toBe("");
    expect(isoToLocalInput("")).toBe("");
    expect(isoToLocalInput("nonsense")).toBe("");
  });
});
