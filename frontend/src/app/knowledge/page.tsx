"use client";

import { useCallback, useEffect, useMemo, useState } from "react";

import { DocumentTable } from "@/components/knowledge/DocumentTable";
import { RetrievalTester } from "@/components/knowledge/RetrievalTester";
import { UploadPanel } from "@/components/knowledge/UploadPanel";
import { useSession } from "@/components/SessionProvider";
import { Empty, ErrorPanel, Loading } from "@/components/states";
import { call } from "@/lib/api/client";
import { formatDateTime } from "@/lib/format";
import { MAX_DOCUMENT_BYTES, POLL_MS, formatBytes, newestFirst, shouldPoll } from "@/lib/knowledge";
import { useApi } from "@/lib/useApi";

import "./knowledge.css";

/**
 * Knowledge: the documents the tenant's workflows retrieve from. Operators upload (drag and
 * drop or a file picker), re-ingest and delete; everyone sees each document's status and can
 * test retrieval. The list refreshes every 2 seconds while a document is queued or ingesting.
 */
export default function KnowledgePage() {
  const { can } = useSession();
  const canChange = can("operator");
  const list = useApi("documents", () => call((api) => api.GET("/v1/documents")));
  const { reload } = list;
  const documents = useMemo(() => (list.data ? newestFirst(list.data) : undefined), [list.data]);
  const polling = shouldPoll(documents);
  const [updatedAt, setUpdatedAt] = useState<Date | null>(null);

  useEffect(() => {
    if (list.data) setUpdatedAt(new Date());
  }, [list.data]);

  // While something is on its way to ready (or failed), ask again every 2 s, errors included
  // (the last list stays on screen); not while the tab is hidden.
  useEffect(() => {
    if (!polling) return;
    const timer = window.setInterval(() => {
      if (!document.hidden) reload();
    }, POLL_MS);
    return () => window.clearInterval(timer);
  }, [polling, reload]);

  const onUploaded = useCallback(() => reload(), [reload]);
  const ready = documents?.filter((d) => d.status === "ready").length ?? 0;

  return (
    <div className="knowledge">
      <header className="knowledge-header">
        <h1>Knowledge</h1>
        <p className="muted">
          The documents your workflows look things up in. Each one is split into chunks and embedded; a workflow&apos;s
          retrieve step finds the chunks that answer the case at hand and cites them in the run.
        </p>
      </header>

      {canChange ? (
        <UploadPanel documents={documents} onUploaded={onUploaded} />
      ) : (
        <p className="notice" role="note">
          You are signed in as a <strong>viewer</strong>: you can see the documents and test retrieval, but adding,
          re-ingesting and deleting documents needs an operator sign-in.
        </p>
      )}

      <section className="documents" aria-labelledby="documents-title">
        <div className="section-head">
          <h2 id="documents-title">Documents</h2>
          <p className="muted small" aria-live="polite">
            {documents === undefined || documents.length === 0
              ? ""
              : `${documents.length} ${documents.length === 1 ? "document" : "documents"}, ${ready} ready. `}
            {updatedAt ? `Updated ${formatDateTime(updatedAt.toISOString())}` : null}
            {polling ? "; refreshing every 2 seconds while documents are ingested." : updatedAt ? "." : null}
            {list.error && documents ? (
              <span className="form-error"> Refreshing failed: {list.error.message}</span>
            ) : null}
          </p>
          <button type="button" className="secondary" onClick={reload}>
            Refresh
          </button>
        </div>
        {list.error && !documents ? (
          <ErrorPanel error={list.error} retry={reload} />
        ) : documents === undefined ? (
          <Loading what="Loading documents" />
        ) : documents.length === 0 ? (
          <Empty title="No documents yet">
            <div className="knowledge-empty">
              <p>
                Add what your automations should know, as you would brief a new colleague: a returns or refund policy,
                answers to frequent questions, a price list, the pages of your help centre.
              </p>
              <p>
                Flightdeck reads <strong>PDF</strong>, <strong>Markdown</strong>, <strong>plain text</strong>,{" "}
                <strong>HTML</strong> and <strong>CSV</strong> files, up to {formatBytes(MAX_DOCUMENT_BYTES)} each.
                Headings are kept with their text, so short sections with clear headings retrieve best.
              </p>
              <p>
                {canChange
                  ? "Drop files on the box above, or choose them, to start."
                  : "Ask an operator of your account to upload them."}
              </p>
            </div>
          </Empty>
        ) : (
          <DocumentTable documents={documents} canChange={canChange} onChanged={reload} />
        )}
      </section>

      {documents?.length ? <RetrievalTester documents={documents} /> : null}
    </div>
  );
}
