import { describe, expect, it } from "vitest";

import {
  ACCEPT,
  MAX_DIRECT_BYTES,
  MAX_DOCUMENT_BYTES,
  allTags,
  chunkBody,
  distinctTitle,
  documentTypeLabel,
  formatBytes,
  formatRank,
  formatScore,
  isMovingDocument,
  newestFirst,
  parseTags,
  rankHits,
  shouldPoll,
  storageRefusal,
  uploadRefusal,
  uploadRoute,
} from "./knowledge";

describe("choosing the upload path", () => {
  it("sends files up to 5 MiB through the API and larger ones to storage", () => {
    expect(MAX_DIRECT_BYTES).toBe(5 * 1024 * 1024);
    expect(uploadRoute(0)).toBe("direct");
    expect(uploadRoute(1200)).toBe("direct");
    expect(uploadRoute(MAX_DIRECT_BYTES)).toBe("direct");
    expect(uploadRoute(MAX_DIRECT_BYTES + 1)).toBe("presigned");
    expect(uploadRoute(MAX_DOCUMENT_BYTES)).toBe("presigned");
  });

  it("still asks the API about files over the limit, which answers 413", () => {
    expect(uploadRoute(MAX_DOCUMENT_BYTES + 1)).toBe("presigned");
  });

  it("offers the picker the supported extensions and types", () => {
    for (const part of [".pdf", ".md", ".markdown", ".txt", ".html", ".htm", ".csv", "text/markdown", "application/pdf"]) {
      expect(ACCEPT.split(",")).toContain(part);
    }
  });
});

describe("formatting sizes", () => {
  it("uses binary units, one decimal below 100", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(812)).toBe("812 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1024)).toBe("1 KiB");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(12.4 * 1024)).toBe("12.4 KiB");
    expect(formatBytes(512 * 1024)).toBe("512 KiB");
    expect(formatBytes(MAX_DIRECT_BYTES)).toBe("5 MiB");
    expect(formatBytes(MAX_DOCUMENT_BYTES)).toBe("50 MiB");
    expect(formatBytes(5.2 * 1024 * 1024)).toBe("5.2 MiB");
    expect(formatBytes(3 * 1024 ** 3)).toBe("3 GiB");
  });

  it("never shows 1024 of a unit", () => {
    expect(formatBytes(1024 * 1024 - 1)).toBe("1 MiB");
  });

  it("shows a dash for what is not a size", () => {
    expect(formatBytes(null)).toBe("—");
    expect(formatBytes(undefined)).toBe("—");
    expect(formatBytes(-1)).toBe("—");
    expect(formatBytes(Number.NaN)).toBe("—");
  });
});

describe("types and statuses", () => {
  it("names the types in words", () => {
    expect(documentTypeLabel("application/pdf")).toBe("PDF");
    expect(documentTypeLabel("text/markdown; charset=utf-8")).toBe("Markdown");
    expect(documentTypeLabel("text/csv")).toBe("CSV");
    expect(documentTypeLabel("application/x-unknown")).toBe("application/x-unknown");
    expect(documentTypeLabel(null)).toBe("—");
  });

  it("counts queued and ingesting as moving", () => {
    expect(isMovingDocument("queued")).toBe(true);
    expect(isMovingDocument("ingesting")).toBe(true);
    expect(isMovingDocument("ready")).toBe(false);
    expect(isMovingDocument("failed")).toBe(false);
  });
});

describe("polling the list", () => {
  const doc = (id: string, status: "queued" | "ingesting" | "ready" | "failed") => ({ id, status });

  it("polls while any document is queued or ingesting", () => {
    expect(shouldPoll([doc("a", "ready"), doc("b", "queued")])).toBe(true);
    expect(shouldPoll([doc("a", "ingesting")])).toBe(true);
  });

  it("stops once every document is ready or failed, or there are none", () => {
    expect(shouldPoll([doc("a", "ready"), doc("b", "failed")])).toBe(false);
    expect(shouldPoll([])).toBe(false);
    expect(shouldPoll(undefined)).toBe(false);
  });

  it("polls until an uploaded document shows up in the list", () => {
    expect(shouldPoll([doc("a", "ready")], ["b"])).toBe(true);
    expect(shouldPoll([doc("a", "ready"), doc("b", "ready")], ["b"])).toBe(false);
  });
});

describe("tags", () => {
  it("splits on commas and spaces, lower-cases and drops duplicates", () => {
    expect(parseTags("FAQ, returns  policy,faq")).toEqual({ tags: ["faq", "returns", "policy"], error: null });
    expect(parseTags("   ")).toEqual({ tags: [], error: null });
    expect(parseTags("region:eu price_list v-2")).toEqual({ tags: ["region:eu", "price_list", "v-2"], error: null });
  });

  it("refuses what the API would refuse, naming it", () => {
    const { error } = parseTags("faq, -bad, ok, toolong" + "x".repeat(64));
    expect(error).toMatch(/“-bad”, “toolongx+” are not valid tags/);
    expect(parseTags("a.b").error).toMatch(/“a.b” is not a valid tag/);
    const many = Array.from({ length: 21 }, (_, i) => `t${i}`).join(",");
    expect(parseTags(many).error).toBe("At most 20 tags per document.");
  });

  it("shows a title only when it says more than the file name", () => {
    expect(distinctTitle("faq.md", "Frequently asked questions")).toBe("Frequently asked questions");
    expect(distinctTitle("handbook-x1.txt", "handbook-x1")).toBeNull();
    expect(distinctTitle("Price-List.csv", "price-list")).toBeNull();
    expect(distinctTitle("a.md", null)).toBeNull();
    expect(distinctTitle("a.md", "  ")).toBeNull();
  });

  it("lists every tag in use once, sorted", () => {
    expect(allTags([{ tags: ["faq", "returns"] }, { tags: ["billing", "faq"] }, { tags: [] }])).toEqual([
      "billing",
      "faq",
      "returns",
    ]);
  });
});

describe("refusals in words", () => {
  it("says what the API's 413, 415 and 403 mean", () => {
    expect(uploadRefusal(413, "big.pdf", 60 * 1024 * 1024, "x")).toBe(
      "big.pdf is too large (60 MiB): documents can be at most 50 MiB. Split it into smaller files.",
    );
    expect(uploadRefusal(415, "sheet.xlsx", 10, "x")).toMatch(
      /^sheet\.xlsx is of a type Flightdeck cannot read: upload PDF, Markdown, plain text, HTML or CSV files\.$/,
    );
    expect(uploadRefusal(403, "a.md", 10, "x")).toMatch(/needs? an operator or admin/);
    expect(uploadRefusal(0, "a.md", 10, "x")).toMatch(/connection failed/);
  });

  it("passes any other answer on as the API words it", () => {
    expect(uploadRefusal(422, "a.md", 10, "tags: not valid")).toBe("a.md was not uploaded: tags: not valid");
  });

  it("explains a refused PUT to storage", () => {
    expect(storageRefusal(403, "big.pdf")).toMatch(/expired/);
    expect(storageRefusal(0, "big.pdf")).toMatch(/connection failed/);
    expect(storageRefusal(503, "big.pdf")).toMatch(/HTTP 503/);
  });
});

describe("search hits", () => {
  it("formats ranks and scores", () => {
    expect(formatRank(1)).toBe("#1");
    expect(formatRank(null)).toBe("—");
    expect(formatScore(2 / 61)).toBe("0.0328");
    expect(formatScore(Number.NaN)).toBe("—");
  });

  it("orders hits best first, ties in the API's order", () => {
    const hits = [
      { id: "a", score: 1 / 62 },
      { id: "b", score: 2 / 61 },
      { id: "c", score: 1 / 62 },
    ];
    expect(rankHits(hits).map((h) => h.id)).toEqual(["b", "a", "c"]);
  });

  it("shows a chunk's heading once", () => {
    const text = "Zephyr lamp care > Bulbs\n\nThe lamp takes one E14 LED bulb.";
    expect(chunkBody(text, "Zephyr lamp care > Bulbs")).toBe("The lamp takes one E14 LED bulb.");
    expect(chunkBody("## Bulbs\nOne E14 bulb.", "Bulbs")).toBe("One E14 bulb.");
    expect(chunkBody(text, "Other")).toBe(text);
    expect(chunkBody(text, "")).toBe(text);
    expect(chunkBody("Bulbs", "Bulbs")).toBe("Bulbs");
  });

  it("lists documents newest first", () => {
    const docs = [{ created_at: "2025-01-01T00:00:00Z" }, { created_at: "2025-03-01T00:00:00Z" }];
    expect(newestFirst(docs)[0].created_at).toBe("2025-03-01T00:00:00Z");
  });
});
