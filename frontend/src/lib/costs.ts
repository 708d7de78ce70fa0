/** The Health page's cost panel: months to choose from and a month's bill split by service.
 * Pure: tested in costs.test.ts. */

import type { Schemas } from "@/lib/api/client";

export type CostFigures = Schemas["CostFigures"];

/** The last `count` calendar months in UTC, newest first, as GET /v1/costs names them. */
export function recentMonths(now: Date, count = 6): string[] {
  const months: string[] = [];
  let year = now.getUTCFullYear();
  let month = now.getUTCMonth() + 1;
  for (let i = 0; i < count; i++) {
    months.push(`${year}-${String(month).padStart(2, "0")}`);
    month -= 1;
    if (month === 0) {
      month = 12;
      year -= 1;
    }
  }
  return months;
}

/** "2026-11" → "November 2026". */
export function monthLabel(month: string): string {
  const [year, number] = month.split("-").map(Number);
  return new Date(Date.UTC(year, number - 1, 1)).toLocaleString("en-GB", { month: "long", year: "numeric", timeZone: "UTC" });
}

export interface CostPart {
  label: string;
  usd: number;
}

/** What a bill is made of, largest first; services that cost nothing are left out. */
export function costParts(f: CostFigures): CostPart[] {
  const parts: CostPart[] = [
    { label: "Model tokens", usd: f.model_usd },
    { label: "Lambda", usd: f.lambda_usd },
    { label: "Step Functions", usd: f.stepfunctions_usd },
    { label: "API Gateway", usd: f.api_usd },
    { label: "Storage", usd: f.storage_usd },
  ];
  return parts.filter((p) => p.usd > 0).sort((a, b) => b.usd - a.usd);
}

/** The average run's cost (storage is the tenant's, not a run's); null without runs. */
export function perRun(f: CostFigures): number | null {
  if (!f.runs) return null;
  return (f.total_usd - f.storage_usd) / f.runs;
}
