/** A status as text plus a symbol, so colour is never the only signal. */
const SYMBOL: Record<string, string> = {
  queued: "○",
  pending: "○",
  running: "▶",
  waiting: "◷",
  waiting_for_approval: "◷",
  escalated: "⚑",
  succeeded: "✓",
  approved: "✓",
  edited: "✎",
  failed: "✕",
  rejected: "✕",
  timed_out: "◔",
  cancelled: "⊘",
  skipped: "–",
};

export function statusLabel(status: string): string {
  return status.replace(/_/g, " ");
}

export function StatusBadge({ status }: { status: string }) {
  return (
    <span className={`badge status-${status}`} data-status={status}>
      <span aria-hidden="true">{SYMBOL[status] ?? "•"}</span> {statusLabel(status)}
    </span>
  );
}
