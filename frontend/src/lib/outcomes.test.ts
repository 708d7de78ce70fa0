import { describe, expect, it } from "vitest";

import {
  benefitRows,
  durationTicks,
  maxOf,
  niceTicks,
  benefitShown,
  bucketLabel,
  cxLabelRows,
  cxShown,
  effectivenessShown,
  figuresFor,
  formatDays,
  formatDurationShort,
  formatHoursValue,
  formatScore,
  hasNonZero,
  hasValues,
  speedup,
  staffShown,
  trendRows,
  turnaroundShown,
  type OutcomeFigures,
  type OutcomesOut,
  type TimeToBenefit,
} from "./outcomes";

function figures(overrides: Partial<OutcomeFigures> = {}): OutcomeFigures {
  return {
    runs: 0,
    succeeded: 0,
    failed: 0,
    cancelled: 0,
    in_progress: 0,
    effectiveness: {
      finished_runs: 0,
      succeeded_without_edit: 0,
      succeeded_without_edit_rate: null,
      approvals_decided: 0,
      approvals_accepted: 0,
      approval_acceptance_rate: null,
      annotation_scores: 0,
      mean_annotation_score: null,
      mean_quality_score: null,
    },
    staff: { measured_runs: 0, baseline_minutes: 0, staff_minutes: 0, minutes_saved: 0, hours_relieved: 0 },
    customer_experience: {
      measured_runs: 0,
      turnaround_p50_seconds: null,
      turnaround_p90_seconds: null,
      manual_baseline_seconds: null,
      cx_scores: 0,
      mean_cx_score: null,
      cx_labels: {},
    },
    turnaround: { runs: 0, p50_seconds: null, p95_seconds: null },
    ...overrides,
  };
}

function benefit(overrides: Partial<TimeToBenefit> = {}): TimeToBenefit {
  return {
    setup_minutes: 600,
    first_run_at: "2025-03-01T09:00:00Z",
    reached_at: null,
    days_to_benefit: null,
    cumulative_minutes_saved: 150,
    curve: [],
    ...overrides,
  };
}

describe("formatting", () => {
  it("formats scores, hours and days", () => {
    expect(formatScore(0.8734)).toBe("0.87");
    expect(formatScore(null)).toBe("—");
    expect(formatHoursValue(0)).toBe("0 h");
    expect(formatHoursValue(2.25)).toBe("2.3 h");
    expect(formatHoursValue(41.6)).toBe("42 h");
    expect(formatDays(0.3)).toBe("under a day");
    expect(formatDays(1)).toBe("1 day");
    expect(formatDays(4.46)).toBe("4.5 days");
    expect(formatDays(12.2)).toBe("12 days");
    expect(formatDays(null)).toBe("—");
  });

  it("formats durations compactly for chart axes", () => {
    expect(formatDurationShort(0)).toBe("0");
    expect(formatDurationShort(0.25)).toBe("250 ms");
    expect(formatDurationShort(45)).toBe("45 s");
    expect(formatDurationShort(150)).toBe("2.5 min");
    expect(formatDurationShort(3 * 3600 + 1800)).toBe("3.5 h");
    expect(formatDurationShort(5 * 86400)).toBe("5 d");
    expect(formatDurationShort(null)).toBe("—");
  });

  it("compares with the manual process only when both sides are known", () => {
    expect(speedup(60, 2 * 86400)).toBe("2,880× faster than by hand");
    expect(speedup(600, 1500)).toBe("2.5× faster than by hand");
    expect(speedup(3000, 1500)).toBe("2× slower than by hand");
    expect(speedup(1000, 1010)).toBe("about as fast as by hand");
    expect(speedup(null, 1500)).toBeNull();
    expect(speedup(60, null)).toBeNull();
  });
});

describe("the five outcomes, honestly", () => {
  it("shows a missing rate as a dash with its reason, and a real zero as zero", () => {
    const empty = effectivenessShown(figures());
    expect(empty.withoutEdit).toEqual({ text: "—", why: "No run finished in this period." });
    expect(empty.acceptance.why).toMatch(/approval/);
    expect(empty.annotationScore.why).toMatch(/scored/);
    expect(empty.quality.text).toBe("—");

    const zero = effectivenessShown(
      figures({
        effectiveness: {
          ...figures().effectiveness,
          finished_runs: 4,
          succeeded_without_edit: 0,
          succeeded_without_edit_rate: 0,
          approvals_decided: 2,
          approvals_accepted: 1,
          approval_acceptance_rate: 0.5,
          annotation_scores: 1,
          mean_annotation_score: 0.9,
          mean_quality_score: 0.75,
        },
      }),
    );
    expect(zero.withoutEdit).toEqual({ text: "0%", why: null });
    expect(zero.withoutEditDetail).toBe("0 of 4 finished runs");
    expect(zero.acceptance.text).toBe("50%");
    expect(zero.annotationDetail).toBe("from 1 score annotation");
    expect(zero.quality.text).toBe("0.75");
  });

  it("staff hours: none measured is not zero saved", () => {
    expect(staffShown(figures()).hours.text).toBe("—");
    const s = staffShown(
      figures({ staff: { measured_runs: 12, baseline_minutes: 180, staff_minutes: 30, minutes_saved: 150, hours_relieved: 2.5 } }),
    );
    expect(s).toEqual({ hours: { text: "2.5 h", why: null }, baseline: "3.0 h", spent: "0.5 h", measured: "12 measured runs" });
  });

  it("customer experience against the manual baseline, labels most frequent first", () => {
    const c = cxShown(
      figures({
        customer_experience: {
          measured_runs: 3,
          turnaround_p50_seconds: 120,
          turnaround_p90_seconds: 600,
          manual_baseline_seconds: 14400,
          cx_scores: 2,
          mean_cx_score: 0.8,
          cx_labels: { "cx:waited": 1, "cx:delighted": 4 },
        },
      }),
    );
    expect(c.p50.text).toBe("2 min");
    expect(c.manual.text).toBe("4 h");
    expect(c.comparison).toBe("120× faster than by hand");
    expect(c.labels).toEqual([
      { label: "delighted", count: 4 },
      { label: "waited", count: 1 },
    ]);
    expect(cxShown(figures()).manual.why).toMatch(/manual_turnaround_minutes/);
    expect(cxLabelRows({ "cx:b": 1, "cx:a": 1 }).map((r) => r.label)).toEqual(["a", "b"]);
  });

  it("turnaround", () => {
    expect(turnaroundShown(figures()).p50.why).toBe("No run succeeded in this period.");
    const t = turnaroundShown(figures({ turnaround: { runs: 1, p50_seconds: 42, p95_seconds: 75 } }));
    expect([t.p50.text, t.p95.text, t.detail]).toEqual(["42 s", "1 min 15 s", "over 1 succeeded run"]);
  });

  it("picks a workflow's figures, or the total", () => {
    const total = figures({ runs: 9 });
    const mine = figures({ runs: 4 });
    const outcomes: OutcomesOut = {
      window: { since: "2025-03-01T00:00:00Z", until: "2025-03-29T00:00:00Z" },
      total,
      workflows: [{ workflow: "mine", description: "", figures: mine, time_to_benefit: benefit() }],
    };
    expect(figuresFor(outcomes, null).runs).toBe(9);
    expect(figuresFor(outcomes, "mine").runs).toBe(4);
  });
});

describe("time to benefit", () => {
  const now = new Date("2025-03-11T09:00:00Z");

  it("not yet: progress against the setup time", () => {
    const b = benefitShown(benefit(), now);
    expect(b.state).toBe("not-yet");
    expect(b.headline).toBe("Not yet");
    expect(b.progress).toBe(0.25);
    expect(b.detail).toBe("2.5 h of 10 h setup time saved (25%) in 10 days since the first run.");
  });

  it("reached", () => {
    const b = benefitShown(
      benefit({ reached_at: "2025-03-09T12:00:00Z", days_to_benefit: 8.1, cumulative_minutes_saved: 720 }),
      now,
    );
    expect(b.state).toBe("reached");
    expect(b.headline).toBe("8.1 days");
    expect(b.detail).toContain("on 9 Mar 2025");
    expect(b.progress).toBe(1);
  });

  it("no runs, and no setup time to pay back", () => {
    expect(benefitShown(benefit({ first_run_at: null, cumulative_minutes_saved: 0 }), now).state).toBe("no-runs");
    const free = benefitShown(benefit({ setup_minutes: 0 }), now);
    expect(free.state).toBe("no-setup");
    expect(free.headline).toBe("—");
    expect(free.detail).toMatch(/setup_hours/);
  });

  it("draws the curve in hours beside the setup line", () => {
    expect(
      benefitRows(
        benefit({
          curve: [
            { day: "2025-03-01", cumulative_minutes_saved: 30 },
            { day: "2025-03-04", cumulative_minutes_saved: 95 },
          ],
        }),
      ),
    ).toEqual([
      { day: "2025-03-01", label: "1 Mar", savedHours: 0.5, setupHours: 10 },
      { day: "2025-03-04", label: "4 Mar", savedHours: 1.58, setupHours: 10 },
    ]);
  });
});

describe("trend rows", () => {
  const point = {
    start: "2025-03-03T00:00:00Z",
    runs: 10,
    succeeded: 7,
    failed: 2,
    baseline_minutes: 300,
    staff_minutes: 45,
    minutes_saved: 255,
    succeeded_without_edit_rate: 0.6667,
    approval_acceptance_rate: null,
    mean_quality_score: 0.81,
    turnaround_p50_seconds: 30,
    turnaround_p95_seconds: 95,
    cx_turnaround_p50_seconds: 31,
    cx_turnaround_p90_seconds: 80,
  };

  it("turns points into chart rows: hours, percentages, gaps kept as gaps", () => {
    const [row] = trendRows({ window: { since: "", until: "" }, bucket: "week", workflow: null, points: [point] });
    expect(row).toEqual({
      start: "2025-03-03T00:00:00Z",
      label: "w/c 3 Mar",
      runs: 10,
      succeeded: 7,
      failed: 2,
      other: 1,
      hoursSaved: 4.25,
      staffHours: 0.75,
      baselineHours: 5,
      withoutEditPct: 66.7,
      acceptancePct: null,
      quality: 0.81,
      turnaroundP50: 30,
      turnaroundP95: 95,
      cxP50: 31,
      cxP90: 80,
    });
  });

  it("labels buckets in UTC", () => {
    expect(bucketLabel("2025-03-31T00:00:00Z", "day")).toBe("31 Mar");
    expect(bucketLabel("2025-03-31T00:00:00+00:00", "week")).toBe("w/c 31 Mar");
  });

  it("tells an empty series from one of zeros", () => {
    const rows = [
      { a: null as number | null, b: 0 },
      { a: null as number | null, b: 0 },
    ];
    expect(hasValues(rows, "a")).toBe(false);
    expect(hasValues(rows, "b")).toBe(true);
    expect(hasNonZero(rows, "b")).toBe(false);
    expect(hasNonZero([{ a: null, b: 2 }], "a", "b")).toBe(true);
  });
});

describe("axis ticks", () => {
  it("puts ticks at round numbers past the maximum", () => {
    expect(niceTicks(2.2)).toEqual([0, 1, 2, 3]);
    expect(niceTicks(57.5)).toEqual([0, 20, 40, 60]);
    expect(niceTicks(9)).toEqual([0, 2.5, 5, 7.5, 10]);
    expect(niceTicks(0)).toEqual([0, 1]);
  });

  it("puts duration ticks at round times", () => {
    expect(durationTicks(7022)).toEqual([0, 1800, 3600, 5400, 7200]);
    expect(durationTicks(45)).toEqual([0, 15, 30, 45]);
    expect(durationTicks(100000)).toEqual([0, 43200, 86400, 129600]);
    expect(durationTicks(0)).toEqual([0, 60]);
  });

  it("finds the largest value", () => {
    expect(maxOf([{ a: 1, b: null }, { a: 3, b: 7 }], "a", "b")).toBe(7);
    expect(maxOf([{ a: null }], "a")).toBe(0);
  });
});
