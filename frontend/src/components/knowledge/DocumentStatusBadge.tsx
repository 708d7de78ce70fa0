import { STATUS_WORDS, type DocumentStatus } from "@/lib/knowledge";

/** A document's status as a symbol and a word (colour is never the only signal). */
export function DocumentStatusBadge({ status }: { status: DocumentStatus }) {
  const words = STATUS_WORDS[status] ?? { symbol: "•", label: status, explain: "" };
  return (
    <span className={`badge status-${status}`} data-status={status} title={words.explain}>
      <span aria-hidden="true">{words.symbol}</span> {words.label}
    </span>
  );
}
