import { describe, expect, it } from "vitest";

import { costParts, monthLabel, perRun, recentMonths, type CostFigures } from "./costs";

const FIGURES: CostFigures = {
  runs: 200,
  executions: 600,
  input_tokens: 1_880_000,
  output_tokens: 400_000,
  unpriced_tokens: 0,
  lambda_gb_seconds: 503,
  state_transitions: 1800,
  api_requests: 200,
  model_usd: 3.0416,
  lambda_usd: 0.0068667,
  stepfunctions_usd: 0.045,
  api_usd: 0.0007,
  storage_usd: 0,
  total_usd: 3.0941667,
};

describe("recentMonths", () => {
  it("counts back across the new year", () => {
    expect(recentMonths(new Date("2026-02-10T12:00:00Z"), 4)).toEqual(["2026-02", "2026-01", "2025-12", "2025-11"]);
  });
  it("uses the UTC month (the ledger's)", () => {
    expect(recentMonths(new Date("2026-12-01T00:30:00Z"), 1)).toEqual(["2026-12"]);
  });
});

describe("monthLabel", () => {
  it("names the month", () => {
    expect(monthLabel("2026-11")).toBe("November 2026");
  });
});

describe("costParts", () => {
  it("orders the services by what they cost and leaves out the free ones", () => {
    expect(costParts(FIGURES).map((p) => p.label)).toEqual(["Model tokens", "Step Functions", "Lambda", "API Gateway"]);
  });
});

describe("perRun", () => {
  it("divides the runs' cost, storage aside", () => {
    expect(perRun({ ...FIGURES, storage_usd: 1, total_usd: FIGURES.total_usd + 1 })).toBeCloseTo(0.0154708, 6);
    expect(perRun({ ...FIGURES, runs: 0 })).toBeNull();
  });
});
