/**
 * Pure transforms behind the Outcomes page: API figures and series → what a person reads and
 * what the charts draw. No React, no fetching: tested in outcomes.test.ts.
 *
 * Honesty rules: a figure the API could not compute (null) is shown as "—" with the reason; a
 * zero is a real zero. Scores are on the API's 0–1 scale.
 */
import type { Schemas } from "@/lib/api/client";
import { formatDuration, formatHours, formatPercent } from "@/lib/format";
import { formatDay, type Bucket } from "@/lib/range";

export type OutcomesOut = Schemas["OutcomesOut"];
export type OutcomeFigures = Schemas["OutcomeFigures"];
export type OutcomeSeries = Schemas["OutcomeSeries"];
export type OutcomePoint = Schemas["OutcomePoint"];
export type TimeToBenefit = Schemas["TimeToBenefit"];
export type WorkflowOutcomes = Schemas["WorkflowOutcomes"];

/** A figure as shown: its text, and why it is missing when it is. */
export interface Shown {
  text: string;
  why: string | null;
}

export function shown(value: number | null | undefined, format: (v: number) => string, why: string): Shown {
  return value === null || value === undefined || !Number.isFinite(value)
    ? { text: "—", why }
    : { text: format(value), why: null };
}

/** 0.873 → "0.87" (scores are 0–1). */
export function formatScore(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return value.toFixed(2);
}

/** Hours from hours (the API's `hours_relieved`): 0 → "0 h", 2.25 → "2.3 h", 41.6 → "42 h". */
export function formatHoursValue(hours: number | null | undefined): string {
  if (hours === null || hours === undefined || !Number.isFinite(hours)) return "—";
  if (hours === 0) return "0 h";
  return formatHours(hours * 60);
}

/** Days, readable: 0.3 → "under a day", 1 → "1 day", 4.5 → "4.5 days", 12.2 → "12 days". */
export function formatDays(days: number | null | undefined): string {
  if (days === null || days === undefined || !Number.isFinite(days)) return "—";
  if (days < 1) return "under a day";
  const rounded = days < 10 ? Math.round(days * 10) / 10 : Math.round(days);
  return rounded === 1 ? "1 day" : `${rounded} days`;
}

/** A compact duration for chart axes: "850 ms", "45 s", "12 min", "3.5 h", "2.1 d". */
export function formatDurationShort(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, seconds);
  const one = (v: number) => (v < 10 ? String(Math.round(v * 10) / 10) : String(Math.round(v)));
  if (s === 0) return "0";
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${one(s)} s`;
  if (s < 3600) return `${one(s / 60)} min`;
  if (s < 48 * 3600) return `${one(s / 3600)} h`;
  return `${one(s / 86400)} d`;
}

/** "12 of 15". */
export function formatShare(part: number, whole: number): string {
  return `${part.toLocaleString("en")} of ${whole.toLocaleString("en")}`;
}

/**
 * How the automated turnaround compares with the manual one: "40× faster", "1.5× slower",
 * "about the same"; null when either side is unknown.
 */
export function speedup(actualSeconds: number | null | undefined, manualSeconds: number | null | undefined): string | null {
  if (!actualSeconds || !manualSeconds || actualSeconds <= 0 || manualSeconds <= 0) return null;
  const ratio = manualSeconds / actualSeconds;
  const fmt = (r: number) => (r >= 10 ? Math.round(r).toLocaleString("en") : (Math.round(r * 10) / 10).toString());
  if (ratio >= 1.05) return `${fmt(ratio)}× faster than by hand`;
  if (ratio <= 1 / 1.05) return `${fmt(1 / ratio)}× slower than by hand`;
  return "about as fast as by hand";
}

/** The figures for one workflow, or the total when `workflow` is null (or not in the answer). */
export function figuresFor(outcomes: OutcomesOut, workflow: string | null): OutcomeFigures {
  if (!workflow) return outcomes.total;
  return outcomes.workflows.find((w) => w.workflow === workflow)?.figures ?? outcomes.total;
}

/** The workflows whose time to benefit is shown: the chosen one, or all of them. */
export function benefitsFor(outcomes: OutcomesOut, workflow: string | null): WorkflowOutcomes[] {
  return workflow ? outcomes.workflows.filter((w) => w.workflow === workflow) : outcomes.workflows;
}

// --- The five outcomes, as shown ---------------------------------------------------------

export interface EffectivenessShown {
  withoutEdit: Shown;
  withoutEditDetail: string;
  acceptance: Shown;
  acceptanceDetail: string;
  annotationScore: Shown;
  annotationDetail: string;
  quality: Shown;
}

export function effectivenessShown(f: OutcomeFigures): EffectivenessShown {
  const e = f.effectiveness;
  return {
    withoutEdit: shown(e.succeeded_without_edit_rate, (v) => formatPercent(v), "No run finished in this period."),
    withoutEditDetail: `${formatShare(e.succeeded_without_edit, e.finished_runs)} finished runs`,
    acceptance: shown(e.approval_acceptance_rate, (v) => formatPercent(v), "Nobody decided an approval in this period."),
    acceptanceDetail: `${formatShare(e.approvals_accepted, e.approvals_decided)} decided approvals approved or edited`,
    annotationScore: shown(e.mean_annotation_score, formatScore, "Nobody scored a run in this period."),
    annotationDetail:
      e.annotation_scores === 1 ? "from 1 score annotation" : `from ${e.annotation_scores.toLocaleString("en")} score annotations`,
    quality: shown(
      e.mean_quality_score,
      formatScore,
      "No run recorded a quality score in this period (the workflow scores a run when it finishes).",
    ),
  };
}

export interface StaffShown {
  hours: Shown;
  baseline: string;
  spent: string;
  measured: string;
}

export function staffShown(f: OutcomeFigures): StaffShown {
  const s = f.staff;
  const none = s.measured_runs === 0;
  return {
    hours: none
      ? { text: "—", why: "No run recorded its staff time in this period." }
      : { text: formatHoursValue(s.hours_relieved), why: null },
    baseline: formatHoursValue(s.baseline_minutes / 60),
    spent: formatHoursValue(s.staff_minutes / 60),
    measured: s.measured_runs === 1 ? "1 measured run" : `${s.measured_runs.toLocaleString("en")} measured runs`,
  };
}

export interface CxShown {
  p50: Shown;
  p90: Shown;
  manual: Shown;
  comparison: string | null;
  score: Shown;
  scoreDetail: string;
  labels: { label: string; count: number }[];
}

export function cxShown(f: OutcomeFigures): CxShown {
  const c = f.customer_experience;
  const noRuns = "No run measured the customer's wait in this period.";
  return {
    p50: shown(c.turnaround_p50_seconds, formatDuration, noRuns),
    p90: shown(c.turnaround_p90_seconds, formatDuration, noRuns),
    manual: shown(
      c.manual_baseline_seconds,
      formatDuration,
      "The workflow does not declare how long the manual process takes (manual_turnaround_minutes in its manifest).",
    ),
    comparison: speedup(c.turnaround_p50_seconds, c.manual_baseline_seconds),
    score: shown(c.mean_cx_score, formatScore, "No customer-experience score (metric “cx”) was recorded in this period."),
    scoreDetail: c.cx_scores === 1 ? "from 1 score" : `from ${c.cx_scores.toLocaleString("en")} scores`,
    labels: cxLabelRows(c.cx_labels),
  };
}

/** `{"cx:happy": 3, "cx:waited": 1}` → most frequent first, without the `cx:` prefix. */
export function cxLabelRows(labels: Record<string, number>): { label: string; count: number }[] {
  return Object.entries(labels)
    .map(([label, count]) => ({ label: label.replace(/^cx:/, ""), count }))
    .sort((a, b) => b.count - a.count || a.label.localeCompare(b.label));
}

export interface TurnaroundShown {
  p50: Shown;
  p95: Shown;
  detail: string;
}

export function turnaroundShown(f: OutcomeFigures): TurnaroundShown {
  const t = f.turnaround;
  const why = "No run succeeded in this period.";
  return {
    p50: shown(t.p50_seconds, formatDuration, why),
    p95: shown(t.p95_seconds, formatDuration, why),
    detail: t.runs === 1 ? "over 1 succeeded run" : `over ${t.runs.toLocaleString("en")} succeeded runs`,
  };
}

// --- Time to benefit ---------------------------------------------------------------------

export type BenefitState = "no-runs" | "no-setup" | "reached" | "not-yet";

export interface BenefitShown {
  state: BenefitState;
  /** The headline: "12 days", "Not yet", … */
  headline: string;
  /** One sentence that explains the headline. */
  detail: string;
  /** Saved / setup, 0–1, when there is a setup time to pay back. */
  progress: number | null;
}

export function benefitShown(t: TimeToBenefit, now: Date = new Date()): BenefitShown {
  const saved = formatHoursValue(t.cumulative_minutes_saved / 60);
  const setup = formatHoursValue(t.setup_minutes / 60);
  if (!t.first_run_at) {
    return {
      state: "no-runs",
      headline: "No runs yet",
      detail: "The clock starts with the workflow's first run.",
      progress: t.setup_minutes > 0 ? 0 : null,
    };
  }
  if (t.setup_minutes <= 0) {
    return {
      state: "no-setup",
      headline: "—",
      detail: `No setup time is recorded for this workflow (setup_hours in its manifest), so there is nothing to pay back. ${saved} saved so far.`,
      progress: null,
    };
  }
  const progress = Math.max(0, Math.min(1, t.cumulative_minutes_saved / t.setup_minutes));
  if (t.reached_at && t.days_to_benefit !== null) {
    return {
      state: "reached",
      headline: formatDays(t.days_to_benefit),
      detail: `Staff time saved passed the ${setup} of setup on ${formatDay(t.reached_at.slice(0, 10))}, ${formatDays(t.days_to_benefit)} after the first run. ${saved} saved in all.`,
      progress: 1,
    };
  }
  const since = (now.getTime() - new Date(t.first_run_at).getTime()) / 86400000;
  return {
    state: "not-yet",
    headline: "Not yet",
    detail: `${saved} of ${setup} setup time saved (${formatPercent(progress)}) in ${formatDays(since)} since the first run.`,
    progress,
  };
}

export interface BenefitRow {
  day: string;
  label: string;
  savedHours: number;
  setupHours: number;
}

/** The cumulative-saved curve, in hours, with the setup line beside it. */
export function benefitRows(t: TimeToBenefit): BenefitRow[] {
  const setupHours = round(t.setup_minutes / 60, 2);
  return t.curve.map((p) => ({
    day: p.day,
    label: formatDay(p.day, false),
    savedHours: round(p.cumulative_minutes_saved / 60, 2),
    setupHours,
  }));
}

// --- The trend -----------------------------------------------------------------------------

export interface TrendRow {
  start: string;
  label: string;
  runs: number;
  succeeded: number;
  failed: number;
  /** Runs neither succeeded nor failed yet (in progress, cancelled). */
  other: number;
  hoursSaved: number;
  staffHours: number;
  baselineHours: number;
  /** Percentages 0–100; null where nothing was measured (a gap in the line, not a zero). */
  withoutEditPct: number | null;
  acceptancePct: number | null;
  /** 0–1. */
  quality: number | null;
  turnaroundP50: number | null;
  turnaroundP95: number | null;
  cxP50: number | null;
  cxP90: number | null;
}

/** "3 Mar" for a day, "w/c 3 Mar" (week commencing) for an ISO week; UTC, as the API buckets. */
export function bucketLabel(start: string, bucket: Bucket): string {
  const day = formatDay(start.slice(0, 10), false);
  return bucket === "week" ? `w/c ${day}` : day;
}

export function trendRows(series: OutcomeSeries): TrendRow[] {
  const pct = (v: number | null) => (v === null ? null : round(v * 100, 1));
  return series.points.map((p) => ({
    start: p.start,
    label: bucketLabel(p.start, series.bucket),
    runs: p.runs,
    succeeded: p.succeeded,
    failed: p.failed,
    other: Math.max(0, p.runs - p.succeeded - p.failed),
    hoursSaved: round(p.minutes_saved / 60, 2),
    staffHours: round(p.staff_minutes / 60, 2),
    baselineHours: round(p.baseline_minutes / 60, 2),
    withoutEditPct: pct(p.succeeded_without_edit_rate),
    acceptancePct: pct(p.approval_acceptance_rate),
    quality: p.mean_quality_score,
    turnaroundP50: p.turnaround_p50_seconds,
    turnaroundP95: p.turnaround_p95_seconds,
    cxP50: p.cx_turnaround_p50_seconds,
    cxP90: p.cx_turnaround_p90_seconds,
  }));
}

/** True when at least one row has a measured value for one of `keys` (a zero counts). */
export function hasValues<T>(rows: T[], ...keys: (keyof T)[]): boolean {
  return rows.some((r) => keys.some((k) => typeof r[k] === "number" && Number.isFinite(r[k])));
}

/** True when at least one row has a non-zero value for one of `keys`: all zeros draw nothing. */
export function hasNonZero<T>(rows: T[], ...keys: (keyof T)[]): boolean {
  return rows.some((r) => keys.some((k) => typeof r[k] === "number" && r[k] !== 0));
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

// --- Axis ticks ----------------------------------------------------------------------------

/** Round ticks from 0 to at least `max`: steps of 1, 2 or 5 × 10ⁿ, about `count` of them. */
export function niceTicks(max: number, count = 4): number[] {
  if (!Number.isFinite(max) || max <= 0) return [0, 1];
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * power >= raw) ?? 10) * power;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 1e-9; v += step) ticks.push(round(v, 6));
  if (ticks[ticks.length - 1] < max) ticks.push(round(ticks[ticks.length - 1] + step, 6));
  return ticks;
}

/** Seconds between duration ticks that read well: 1 s … 30 min … 12 h … 7 d. */
const DURATION_STEPS = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
];

/** Ticks for a duration axis (seconds) from 0 past `maxSeconds`, at round times. */
export function durationTicks(maxSeconds: number, count = 4): number[] {
  if (!Number.isFinite(maxSeconds) || maxSeconds <= 0) return [0, 60];
  if (maxSeconds < 1) return niceTicks(maxSeconds, count);
  const step = DURATION_STEPS.find((s) => s * count >= maxSeconds) ?? Math.ceil(maxSeconds / count / 604800) * 604800;
  const ticks = [0];
  while (ticks[ticks.length - 1] < maxSeconds) ticks.push(ticks[ticks.length - 1] + step);
  return ticks;
}

/** The largest finite value of `keys` over the rows (0 when none). */
export function maxOf<T>(rows: T[], ...keys: (keyof T)[]): number {
  let max = 0;
  for (const r of rows)
    for (const k of keys) {
      const v = r[k];
      if (typeof v === "number" && Number.isFinite(v) && v > max) max = v;
    }
  return max;
}
