"use client";

/**
 * The Recharts charts of the insight pages. Animation is off: the figures are read, not watched,
 * and nothing moves for people who asked for reduced motion.
 */
import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";

import { CHART } from "@/components/insights/ChartFrame";
import { formatDuration } from "@/lib/format";
import { durationTicks, formatDurationShort, maxOf, niceTicks } from "@/lib/outcomes";

const AXIS = { fontSize: 12, fill: CHART.ink };
const MARGIN = { top: 8, right: 12, left: 0, bottom: 0 };

type Row = object;

/** The largest value the chart draws for these keys. */
function top(rows: Row[], keys: string[]): number {
  return maxOf(rows as Record<string, unknown>[], ...keys);
}

export interface StackSeries {
  key: string;
  name: string;
  color: string;
}

/** Stacked bars of counts per bucket (runs: succeeded / failed / other). */
export function StackedBars({ rows, series, xKey = "label" }: { rows: Row[]; series: StackSeries[]; xKey?: string }) {
  return (
    <ResponsiveContainer width="100%" height="100%">
      <BarChart data={rows} margin={MARGIN} accessibilityLayer={false}>
        <CartesianGrid stroke={CHART.grid} vertical={false} />
        <XAxis dataKey={xKey} tick={AXIS} minTickGap={12} />
        <YAxis allowDecimals={false} width={40} tick={AXIS} />
        <Tooltip cursor={{ fill: "rgba(36, 86, 199, 0.08)" }} />
        <Legend wrapperStyle={{ fontSize: 13 }} />
        {series.map((s) => (
          <Bar key={s.key} dataKey={s.key} name={s.name} stackId="stack" fill={s.color} isAnimationActive={false} />
        ))}
      </BarChart>
    </ResponsiveContainer>
  );
}

/** Hours per bucket, as bars. */
export function HoursBars({ rows, series }: { rows: Row[]; series: StackSeries[] }) {
  const fmt = (v: unknown) => (typeof v === "number" ? `${v} h` : "—");
  const ticks = niceTicks(top(rows, series.map((s) => s.key)));
  return (
    <ResponsiveContainer width="100%" height="100%">
      <BarChart data={rows} margin={MARGIN} accessibilityLayer={false}>
        <CartesianGrid stroke={CHART.grid} vertical={false} />
        <XAxis dataKey="label" tick={AXIS} minTickGap={12} />
        <YAxis width={56} tick={AXIS} ticks={ticks} domain={[0, ticks[ticks.length - 1]]} tickFormatter={(v: number) => `${v} h`} />
        <Tooltip formatter={fmt} cursor={{ fill: "rgba(36, 86, 199, 0.08)" }} />
        <Legend wrapperStyle={{ fontSize: 13 }} />
        {series.map((s) => (
          <Bar key={s.key} dataKey={s.key} name={s.name} fill={s.color} isAnimationActive={false} />
        ))}
      </BarChart>
    </ResponsiveContainer>
  );
}

export interface LineSeries {
  key: string;
  name: string;
  color: string;
  dashed?: boolean;
  /** "right": drawn against the second axis. */
  axis?: "left" | "right";
}

/** Durations (seconds) per bucket; gaps where nothing was measured. */
export function DurationLines({ rows, series }: { rows: Row[]; series: LineSeries[] }) {
  const ticks = durationTicks(top(rows, series.map((s) => s.key)));
  return (
    <ResponsiveContainer width="100%" height="100%">
      <LineChart data={rows} margin={MARGIN} accessibilityLayer={false}>
        <CartesianGrid stroke={CHART.grid} vertical={false} />
        <XAxis dataKey="label" tick={AXIS} minTickGap={12} />
        <YAxis
          width={64}
          tick={AXIS}
          ticks={ticks}
          domain={[0, ticks[ticks.length - 1]]}
          tickFormatter={(v: number) => formatDurationShort(v)}
        />
        <Tooltip formatter={(v: unknown) => (typeof v === "number" ? formatDuration(v) : "—")} />
        <Legend wrapperStyle={{ fontSize: 13 }} />
        {series.map((s) => (
          <Line
            key={s.key}
            type="linear"
            dataKey={s.key}
            name={s.name}
            stroke={s.color}
            strokeWidth={2}
            strokeDasharray={s.dashed ? "6 4" : undefined}
            dot={{ r: 3 }}
            connectNulls={false}
            isAnimationActive={false}
          />
        ))}
      </LineChart>
    </ResponsiveContainer>
  );
}

/** Percentages (0–100) on the left axis, a 0–1 score on the right. */
export function RateLines({ rows, series }: { rows: Row[]; series: LineSeries[] }) {
  const hasRight = series.some((s) => s.axis === "right");
  return (
    <ResponsiveContainer width="100%" height="100%">
      <LineChart data={rows} margin={MARGIN} accessibilityLayer={false}>
        <CartesianGrid stroke={CHART.grid} vertical={false} />
        <XAxis dataKey="label" tick={AXIS} minTickGap={12} />
        <YAxis yAxisId="left" domain={[0, 100]} width={44} tick={AXIS} tickFormatter={(v: number) => `${v}%`} />
        {hasRight ? (
          <YAxis yAxisId="right" orientation="right" domain={[0, 1]} width={40} tick={AXIS} tickFormatter={(v: number) => v.toFixed(1)} />
        ) : null}
        <Tooltip
          formatter={(v: unknown, _name: unknown, item: { dataKey?: unknown }) => {
            if (typeof v !== "number") return "—";
            const right = series.find((s) => s.key === item.dataKey)?.axis === "right";
            return right ? v.toFixed(2) : `${v}%`;
          }}
        />
        <Legend wrapperStyle={{ fontSize: 13 }} />
        {series.map((s) => (
          <Line
            key={s.key}
            yAxisId={s.axis ?? "left"}
            type="linear"
            dataKey={s.key}
            name={s.name}
            stroke={s.color}
            strokeWidth={2}
            strokeDasharray={s.dashed ? "6 4" : undefined}
            dot={{ r: 3 }}
            connectNulls={false}
            isAnimationActive={false}
          />
        ))}
      </LineChart>
    </ResponsiveContainer>
  );
}

/** Cumulative staff hours saved, against the setup hours to pay back. */
export function BenefitCurve({ rows, setupHours }: { rows: Row[]; setupHours: number }) {
  const ticks = niceTicks(Math.max(top(rows, ["savedHours"]), setupHours));
  return (
    <ResponsiveContainer width="100%" height="100%">
      <LineChart data={rows} margin={{ ...MARGIN, top: 16 }} accessibilityLayer={false}>
        <CartesianGrid stroke={CHART.grid} vertical={false} />
        <XAxis dataKey="label" tick={AXIS} minTickGap={12} />
        <YAxis
          width={56}
          tick={AXIS}
          ticks={ticks}
          domain={[0, ticks[ticks.length - 1]]}
          tickFormatter={(v: number) => `${v} h`}
        />
        <Tooltip formatter={(v: unknown) => (typeof v === "number" ? `${v} h` : "—")} />
        <Legend wrapperStyle={{ fontSize: 13 }} />
        {setupHours > 0 ? (
          <Line
            type="linear"
            dataKey="setupHours"
            name="Setup time to pay back"
            stroke={CHART.second}
            strokeWidth={2}
            strokeDasharray="6 4"
            dot={false}
            isAnimationActive={false}
          />
        ) : null}
        <Line
          type="linear"
          dataKey="savedHours"
          name="Staff hours saved (cumulative)"
          stroke={CHART.ok}
          strokeWidth={2}
          dot={{ r: 2 }}
          isAnimationActive={false}
        />
      </LineChart>
    </ResponsiveContainer>
  );
}
