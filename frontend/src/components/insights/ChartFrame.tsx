"use client";

import { useId, type ReactNode } from "react";

/** Chart colours: the page's palette, readable apart without colour too (dashes, legends). */
export const CHART = {
  ok: "#1d7a46",
  bad: "#b42318",
  idle: "#8a94a3",
  accent: "#2456c7",
  second: "#c2570c",
  third: "#7a3fb8",
  grid: "#dde2e8",
  ink: "#5b6675",
} as const;

export interface Column<Row> {
  key: keyof Row & string;
  label: string;
  format?: (value: Row[keyof Row]) => string;
  numeric?: boolean;
}

/**
 * A chart with its title, a plain-words caption, an honest empty state, and the same numbers
 * as a table for anyone who cannot see the chart (screen readers, keyboard, print).
 */
export function ChartFrame<Row extends object>({
  title,
  caption,
  rows,
  columns,
  empty,
  height = 240,
  children,
}: {
  title: string;
  caption?: ReactNode;
  rows: Row[];
  columns: Column<Row>[];
  /** When set, shown instead of the chart (there is nothing honest to draw). */
  empty?: string | null;
  height?: number;
  children: ReactNode;
}) {
  const id = useId();
  return (
    <figure className="chart" aria-labelledby={`${id}-title`}>
      <figcaption>
        <h3 id={`${id}-title`}>{title}</h3>
        {caption ? <p className="muted small">{caption}</p> : null}
      </figcaption>
      {empty ? (
        <p className="chart-empty">{empty}</p>
      ) : (
        <>
          <div className="chart-canvas" style={{ height }} role="img" aria-label={`${title}: chart; the numbers are in the table below it.`}>
            {children}
          </div>
          <details className="chart-data">
            <summary>Show the numbers</summary>
            <div className="table-scroll">
              <table>
                <caption className="visually-hidden">{title}</caption>
                <thead>
                  <tr>
                    {columns.map((c) => (
                      <th key={c.key} scope="col" className={c.numeric ? "num" : undefined}>
                        {c.label}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {rows.map((row, i) => (
                    <tr key={i}>
                      {columns.map((c) => {
                        const v = row[c.key];
                        return (
                          <td key={c.key} className={c.numeric ? "num" : undefined}>
                            {c.format ? c.format(v) : v === null || v === undefined ? "—" : String(v)}
                          </td>
                        );
                      })}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </details>
        </>
      )}
    </figure>
  );
}

/** A figure card: a label, the figure, and a line under it (the reason, when it is missing). */
export function Figure({
  label,
  value,
  why,
  detail,
  tone,
}: {
  label: string;
  value: string;
  why?: string | null;
  detail?: ReactNode;
  tone?: "ok" | "bad" | "warn";
}) {
  return (
    <div className={`figure-card${tone ? ` tone-${tone}` : ""}`}>
      <div className="figure-label">{label}</div>
      <div className="figure-value">{value}</div>
      {why ? <div className="figure-why">{why}</div> : detail ? <div className="figure-detail">{detail}</div> : null}
    </div>
  );
}
