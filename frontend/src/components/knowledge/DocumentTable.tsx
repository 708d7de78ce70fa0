"use client";

import { useEffect, useId, useRef, useState } from "react";

import { DocumentStatusBadge } from "@/components/knowledge/DocumentStatusBadge";
import { ApiError, call } from "@/lib/api/client";
import { formatDateTime } from "@/lib/format";
import {
  distinctTitle,
  documentTypeLabel,
  formatBytes,
  isMovingDocument,
  type KnowledgeDocument,
} from "@/lib/knowledge";

/** The tenant's documents, newest first; operators re-ingest and delete from each row. */
export function DocumentTable({
  documents,
  canChange,
  onChanged,
}: {
  documents: KnowledgeDocument[];
  canChange: boolean;
  onChanged: () => void;
}) {
  return (
    <div className="table-scroll document-table">
      <table>
        <caption className="visually-hidden">Documents, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Document</th>
            <th scope="col">Type</th>
            <th scope="col" className="num">
              Size
            </th>
            <th scope="col">Tags</th>
            <th scope="col">Status</th>
            <th scope="col" className="num">
              Chunks
            </th>
            <th scope="col">Embedding model</th>
            <th scope="col">Times</th>
            {canChange ? <th scope="col">Actions</th> : null}
          </tr>
        </thead>
        <tbody>
          {documents.map((d) => (
            <tr key={d.id} data-document-id={d.id} data-filename={d.filename} data-status={d.status}>
              <th scope="row">
                <span className="doc-name">{d.filename}</span>
                {distinctTitle(d.filename, d.title) ? <span className="sub">{distinctTitle(d.filename, d.title)}</span> : null}
              </th>
              <td>{documentTypeLabel(d.content_type)}</td>
              <td className="num nowrap">{formatBytes(d.size_bytes)}</td>
              <td>
                {d.tags.length ? (
                  <ul className="tag-list" aria-label="Tags">
                    {d.tags.map((t) => (
                      <li key={t} className="tag">
                        {t}
                      </li>
                    ))}
                  </ul>
                ) : (
                  <span className="muted">—</span>
                )}
              </td>
              <td>
                <DocumentStatusBadge status={d.status} />
                {d.status === "failed" ? (
                  <span className="failure-reason">{d.error ?? "The reason was not recorded."}</span>
                ) : null}
              </td>
              <td className="num">{d.status === "ready" || d.chunk_count ? d.chunk_count : "—"}</td>
              <td>
                {d.embedding_model ? (
                  <>
                    <span className="mono model">{d.embedding_model}</span>
                    {d.embedding_dimension ? <span className="sub">{d.embedding_dimension} dimensions</span> : null}
                  </>
                ) : (
                  <span className="muted">—</span>
                )}
              </td>
              <td className="times">
                <span>
                  Uploaded <time dateTime={d.created_at}>{formatDateTime(d.created_at)}</time>
                </span>
                {d.ingested_at ? (
                  <span className="sub">
                    Ingested <time dateTime={d.ingested_at}>{formatDateTime(d.ingested_at)}</time>
                  </span>
                ) : isMovingDocument(d.status) ? (
                  <span className="sub">Not ingested yet</span>
                ) : null}
              </td>
              {canChange ? (
                <td>
                  <DocumentActions document={d} onChanged={onChanged} />
                </td>
              ) : null}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Re-ingest (the stored file again, with the current embedding model) and delete, the latter
 * confirmed inline. The API's refusals are shown as it words them. */
function DocumentActions({ document: d, onChanged }: { document: KnowledgeDocument; onChanged: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState<"reingest" | "delete" | null>(null);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const deleteButton = useRef<HTMLButtonElement>(null);
  const confirmButton = useRef<HTMLButtonElement>(null);
  const questionId = useId();
  const wasConfirming = useRef(false);

  useEffect(() => {
    if (confirming) confirmButton.current?.focus();
    else if (wasConfirming.current) deleteButton.current?.focus();
    wasConfirming.current = confirming;
  }, [confirming]);

  async function reingest() {
    setBusy("reingest");
    setMessage(null);
    try {
      const after = await call((api) =>
        api.POST("/v1/documents/{document_id}/reingest", { params: { path: { document_id: d.id } } }),
      );
      setMessage(
        after.status === "failed"
          ? { ok: false, text: `Re-ingesting failed: ${after.error ?? "no reason given"}` }
          : { ok: true, text: after.status === "ready" ? "Ingested again." : "Queued: it is read again now." },
      );
    } catch (e) {
      setMessage({ ok: false, text: `Could not re-ingest: ${(e as ApiError).message}` });
    } finally {
      setBusy(null);
      onChanged();
    }
  }

  async function remove() {
    setBusy("delete");
    setMessage(null);
    try {
      await call((api) => api.DELETE("/v1/documents/{document_id}", { params: { path: { document_id: d.id } } }));
      onChanged();
    } catch (e) {
      setBusy(null);
      setConfirming(false);
      setMessage({ ok: false, text: `Could not delete: ${(e as ApiError).message}` });
      if ((e as ApiError).status === 404) onChanged();
    }
  }

  if (confirming) {
    return (
      <div
        className="row-confirm"
        role="group"
        aria-labelledby={questionId}
        onKeyDown={(e) => {
          if (e.key === "Escape" && !busy) setConfirming(false);
        }}
      >
        <p id={questionId}>
          Delete <strong>{d.filename}</strong>
          {d.chunk_count ? ` and its ${d.chunk_count} ${d.chunk_count === 1 ? "chunk" : "chunks"}` : ""}? Workflows stop
          finding it at once. This cannot be undone.
        </p>
        <div className="row-buttons">
          <button ref={confirmButton} type="button" className="danger" disabled={busy !== null} onClick={remove}>
            {busy === "delete" ? "Deleting…" : "Yes, delete"}
          </button>
          <button type="button" className="secondary" disabled={busy !== null} onClick={() => setConfirming(false)}>
            Keep it
          </button>
        </div>
      </div>
    );
  }

  const moving = isMovingDocument(d.status);
  return (
    <div className="row-actions">
      <div className="row-buttons">
        <button
          type="button"
          className="secondary"
          disabled={busy !== null || moving}
          title={moving ? "Wait until ingestion ends" : "Read, chunk and embed the stored file again"}
          onClick={reingest}
          aria-label={`Re-ingest ${d.filename}`}
        >
          {busy === "reingest" ? "Re-ingesting…" : "Re-ingest"}
        </button>
        <button
          ref={deleteButton}
          type="button"
          className="secondary danger-outline"
          disabled={busy !== null}
          onClick={() => {
            setMessage(null);
            setConfirming(true);
          }}
          aria-label={`Delete ${d.filename}…`}
        >
          Delete…
        </button>
      </div>
      {message ? (
        <p className={message.ok ? "message-ok small" : "form-error small"} role="status">
          {message.text}
        </p>
      ) : null}
    </div>
  );
}
