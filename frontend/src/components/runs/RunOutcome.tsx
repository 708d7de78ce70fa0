"use client";

import type { Schemas } from "@/lib/api/client";
import { formatDuration, formatPercent } from "@/lib/format";
import { displayValue } from "@/lib/runView";

import styles from "./runs.module.css";

function minutes(value: number): string {
  return value > 0 ? formatDuration(value * 60) : "0 min";
}

/** The run's before/after snapshot: a person's time on the task without the automation (the
 * workflow's baseline), the staff time it still took, what that saved, and the quality score. */
export function RunOutcome({ outcome }: { outcome: Schemas["OutcomeOut"] }) {
  const extra = Object.entries(outcome.data ?? {});
  return (
    <>
      <div className={styles.outcome}>
        <div className={styles.figureCard}>
          <div className={styles.label}>Before: staff time without automation</div>
          <div className={styles.big}>{minutes(outcome.baseline_minutes)}</div>
        </div>
        <div className={styles.figureCard}>
          <div className={styles.label}>After: staff time this run needed</div>
          <div className={styles.big}>{minutes(outcome.staff_minutes)}</div>
        </div>
        <div className={styles.figureCard}>
          <div className={styles.label}>Staff time saved</div>
          <div className={styles.big}>{minutes(outcome.minutes_saved)}</div>
        </div>
        <div className={styles.figureCard}>
          <div className={styles.label}>Turnaround (trigger to done)</div>
          <div className={styles.big}>{formatDuration(outcome.turnaround_seconds)}</div>
        </div>
        <div className={styles.figureCard}>
          <div className={styles.label}>Quality score</div>
          <div className={styles.big}>{formatPercent(outcome.quality_score)}</div>
        </div>
      </div>
      {extra.length ? (
        <dl className={styles.facts} style={{ marginTop: "0.75rem" }}>
          {extra.map(([key, value]) => (
            <div key={key}>
              <dt>{key.replace(/_/g, " ")}</dt>
              <dd className="long-text">{displayValue(value)}</dd>
            </div>
          ))}
        </dl>
      ) : null}
    </>
  );
}
