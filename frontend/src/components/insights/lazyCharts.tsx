"use client";

/**
 * The charts, loaded after the page: Recharts is most of the insight pages' JavaScript, and the
 * figures (and each chart's "Show the numbers" table) are readable before it arrives. This keeps
 * each page's first load under the dashboard's 250 kB budget.
 */
import dynamic from "next/dynamic";

function Placeholder() {
  return <div className="chart-placeholder" aria-hidden="true" />;
}

export const StackedBars = dynamic(() => import("./charts").then((m) => m.StackedBars), {
  ssr: false,
  loading: Placeholder,
});
export const HoursBars = dynamic(() => import("./charts").then((m) => m.HoursBars), {
  ssr: false,
  loading: Placeholder,
});
export const DurationLines = dynamic(() => import("./charts").then((m) => m.DurationLines), {
  ssr: false,
  loading: Placeholder,
});
export const RateLines = dynamic(() => import("./charts").then((m) => m.RateLines), {
  ssr: false,
  loading: Placeholder,
});
export const BenefitCurve = dynamic(() => import("./charts").then((m) => m.BenefitCurve), {
  ssr: false,
  loading: Placeholder,
});
