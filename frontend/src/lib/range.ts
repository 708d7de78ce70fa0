/**
 * The time window and workflow the insight pages (Outcomes, Health) show, kept in the URL's
 * query string so a view can be bookmarked and shared. Pure functions: tested in range.test.ts.
 *
 * Dates are whole UTC days, as the API buckets them: a preset of N days is today and the N-1
 * days before it (UTC), up to now; a custom range runs from the start of `since` to the end of
 * `until`, both inclusive.
 */

export type Preset = "7d" | "28d" | "90d";
export type RangeKind = Preset | "custom";
export type Bucket = "day" | "week";

export const PRESETS: readonly { key: Preset; days: number; label: string }[] = [
  { key: "7d", days: 7, label: "7 days" },
  { key: "28d", days: 28, label: "28 days" },
  { key: "90d", days: 90, label: "90 days" },
];

/** The API's default window is 28 days, so is ours. */
export const DEFAULT_PRESET: Preset = "28d";

export interface RangeState {
  range: RangeKind;
  /** YYYY-MM-DD, only for a custom range. */
  since: string | null;
  /** YYYY-MM-DD, inclusive, only for a custom range. */
  until: string | null;
  /** One workflow, or null for all. */
  workflow: string | null;
}

/** What the insight endpoints take as query parameters. */
export interface RangeQuery {
  since: string;
  until?: string;
  workflow?: string;
}

/** Workflow names as the API accepts them (`NAME_PATTERN` in the engine). */
const WORKFLOW_NAME = /^[a-z][a-z0-9_]{0,47}$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_MS = 24 * 3600 * 1000;

interface Params {
  get(name: string): string | null;
}

/** True for a real calendar date written YYYY-MM-DD. */
export function isIsoDate(value: string | null | undefined): value is string {
  if (!value) return false;
  const m = DATE.exec(value);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return (
    d.getUTCFullYear() === Number(m[1]) &&
    d.getUTCMonth() === Number(m[2]) - 1 &&
    d.getUTCDate() === Number(m[3])
  );
}

/** YYYY-MM-DD of a moment, in UTC. */
export function utcDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

function dayStart(day: string): Date {
  return new Date(`${day}T00:00:00.000Z`);
}

/** Why a custom range cannot be used, or null when it can. */
export function customRangeError(
  since: string | null | undefined,
  until: string | null | undefined,
  now: Date = new Date(),
): string | null {
  if (!isIsoDate(since)) return "Choose a start date.";
  if (!isIsoDate(until)) return "Choose an end date.";
  if (since > until) return "The start date is after the end date.";
  if (since > utcDay(now)) return "The start date is in the future.";
  return null;
}

/**
 * Read the range from the query string. Anything unreadable (an unknown preset, a custom range
 * with bad dates, a workflow name the API would refuse) falls back to the default rather than
 * failing the page.
 */
export function parseRange(params: Params, now: Date = new Date()): RangeState {
  const raw = params.get("workflow");
  const workflow = raw && WORKFLOW_NAME.test(raw) ? raw : null;
  const range = params.get("range");
  if (range === "custom") {
    const since = params.get("since");
    const until = params.get("until");
    if (customRangeError(since, until, now) === null) {
      return { range: "custom", since, until, workflow };
    }
  }
  const preset = PRESETS.find((p) => p.key === range)?.key ?? DEFAULT_PRESET;
  return { range: preset, since: null, until: null, workflow };
}

/** The query string for a state (without "?"); defaults are left out, other parameters kept. */
export function rangeSearch(state: RangeState, keep?: Params & { toString(): string }): string {
  const out = new URLSearchParams(keep ? keep.toString() : "");
  for (const name of ["range", "since", "until", "workflow"]) out.delete(name);
  if (state.range === "custom") {
    out.set("range", "custom");
    if (state.since) out.set("since", state.since);
    if (state.until) out.set("until", state.until);
  } else if (state.range !== DEFAULT_PRESET) {
    out.set("range", state.range);
  }
  if (state.workflow) out.set("workflow", state.workflow);
  return out.toString();
}

/** The API query for a state, computed against `now` (presets move with time). */
export function rangeQuery(state: RangeState, now: Date = new Date()): RangeQuery {
  const query: RangeQuery = { since: "" };
  if (state.range === "custom" && state.since && state.until) {
    query.since = dayStart(state.since).toISOString();
    query.until = new Date(dayStart(state.until).getTime() + DAY_MS).toISOString();
  } else {
    const days = PRESETS.find((p) => p.key === state.range)?.days ?? 28;
    const today = dayStart(utcDay(now));
    query.since = new Date(today.getTime() - (days - 1) * DAY_MS).toISOString();
  }
  if (state.workflow) query.workflow = state.workflow;
  return query;
}

/** How many days the range spans (a custom range counts both ends). */
export function rangeDays(state: RangeState): number {
  if (state.range === "custom" && state.since && state.until) {
    return Math.round((dayStart(state.until).getTime() - dayStart(state.since).getTime()) / DAY_MS) + 1;
  }
  return PRESETS.find((p) => p.key === state.range)?.days ?? 28;
}

/** Daily points up to a month, weekly beyond (a 90-day chart of 90 bars is hard to read). */
export function defaultBucket(state: RangeState): Bucket {
  return rangeDays(state) <= 31 ? "day" : "week";
}

/** A stable key for loading: changes exactly when the data asked for changes. */
export function rangeKey(state: RangeState): string {
  return [state.range, state.since ?? "", state.until ?? "", state.workflow ?? ""].join("|");
}

/** "the last 28 days", "1 Mar 2025 – 31 Mar 2025 (UTC)". */
export function describeRange(state: RangeState): string {
  if (state.range === "custom" && state.since && state.until) {
    return state.since === state.until
      ? `${formatDay(state.since)} (UTC)`
      : `${formatDay(state.since)} – ${formatDay(state.until)} (UTC)`;
  }
  const days = PRESETS.find((p) => p.key === state.range)?.days ?? 28;
  return `the last ${days} days`;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** "2025-03-01" → "1 Mar 2025"; locale-free, so the same everywhere. */
export function formatDay(day: string, withYear = true): string {
  const m = DATE.exec(day.slice(0, 10));
  if (!m) return day;
  const text = `${Number(m[3])} ${MONTHS[Number(m[2]) - 1]}`;
  return withYear ? `${text} ${m[1]}` : text;
}
