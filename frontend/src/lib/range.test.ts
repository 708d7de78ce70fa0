import { describe, expect, it } from "vitest";

import {
  customRangeError,
  defaultBucket,
  describeRange,
  formatDay,
  isIsoDate,
  parseRange,
  rangeDays,
  rangeKey,
  rangeQuery,
  rangeSearch,
} from "./range";

const now = new Date("2025-03-20T15:30:00Z");
const params = (q: string) => new URLSearchParams(q);

describe("parseRange", () => {
  it("defaults to the last 28 days and all workflows", () => {
    expect(parseRange(params(""), now)).toEqual({ range: "28d", since: null, until: null, workflow: null });
  });

  it("reads a preset and a workflow", () => {
    expect(parseRange(params("range=7d&workflow=support_triage"), now)).toEqual({
      range: "7d",
      since: null,
      until: null,
      workflow: "support_triage",
    });
  });

  it("reads a valid custom range", () => {
    expect(parseRange(params("range=custom&since=2025-03-01&until=2025-03-10"), now)).toMatchObject({
      range: "custom",
      since: "2025-03-01",
      until: "2025-03-10",
    });
  });

  it("falls back to the default for what it cannot read", () => {
    expect(parseRange(params("range=365d"), now).range).toBe("28d");
    expect(parseRange(params("range=custom&since=2025-02-30&until=2025-03-10"), now).range).toBe("28d");
    expect(parseRange(params("range=custom&since=2025-03-10&until=2025-03-01"), now).range).toBe("28d");
    expect(parseRange(params("workflow=Bad Name"), now).workflow).toBeNull();
  });
});

describe("rangeQuery", () => {
  it("starts a preset at UTC midnight, today counting as one of its days", () => {
    expect(rangeQuery({ range: "7d", since: null, until: null, workflow: null }, now)).toEqual({
      since: "2025-03-14T00:00:00.000Z",
    });
  });

  it("makes a custom range's end date inclusive (until is exclusive in the API)", () => {
    expect(
      rangeQuery({ range: "custom", since: "2025-03-01", until: "2025-03-10", workflow: "w" }, now),
    ).toEqual({ since: "2025-03-01T00:00:00.000Z", until: "2025-03-11T00:00:00.000Z", workflow: "w" });
  });
});

describe("rangeSearch", () => {
  it("leaves defaults out and keeps other parameters", () => {
    expect(rangeSearch({ range: "28d", since: null, until: null, workflow: null }, params("bucket=week"))).toBe(
      "bucket=week",
    );
    expect(
      rangeSearch({ range: "custom", since: "2025-03-01", until: "2025-03-02", workflow: "w" }, params("since=x")),
    ).toBe("range=custom&since=2025-03-01&until=2025-03-02&workflow=w");
  });

  it("round-trips through parseRange", () => {
    const state = { range: "90d" as const, since: null, until: null, workflow: "support_triage" };
    expect(parseRange(params(rangeSearch(state)), now)).toEqual(state);
  });
});

describe("custom ranges", () => {
  it("explains what is wrong", () => {
    expect(customRangeError("", "2025-03-01", now)).toBe("Choose a start date.");
    expect(customRangeError("2025-03-01", null, now)).toBe("Choose an end date.");
    expect(customRangeError("2025-03-05", "2025-03-01", now)).toBe("The start date is after the end date.");
    expect(customRangeError("2025-04-01", "2025-04-02", now)).toBe("The start date is in the future.");
    expect(customRangeError("2025-03-01", "2025-03-01", now)).toBeNull();
  });

  it("knows a real date", () => {
    expect(isIsoDate("2024-02-29")).toBe(true);
    expect(isIsoDate("2025-02-29")).toBe(false);
    expect(isIsoDate("2025-3-1")).toBe(false);
  });
});

describe("buckets, keys and words", () => {
  it("picks daily points up to a month, weekly beyond", () => {
    expect(defaultBucket({ range: "28d", since: null, until: null, workflow: null })).toBe("day");
    expect(defaultBucket({ range: "90d", since: null, until: null, workflow: null })).toBe("week");
    expect(rangeDays({ range: "custom", since: "2025-01-01", until: "2025-01-31", workflow: null })).toBe(31);
  });

  it("keys change with the data asked for", () => {
    const a = { range: "7d" as const, since: null, until: null, workflow: null };
    expect(rangeKey(a)).not.toBe(rangeKey({ ...a, workflow: "w" }));
  });

  it("describes a range", () => {
    expect(describeRange({ range: "7d", since: null, until: null, workflow: null })).toBe("the last 7 days");
    expect(describeRange({ range: "custom", since: "2025-03-01", until: "2025-03-10", workflow: null })).toBe(
      "1 Mar 2025 – 10 Mar 2025 (UTC)",
    );
    expect(formatDay("2025-12-05", false)).toBe("5 Dec");
  });
});
