"use client";

import { useId, useState, type FormEvent } from "react";

import { ApiError, call, type Schemas } from "@/lib/api/client";
import {
  allTags,
  chunkBody,
  distinctTitle,
  formatRank,
  formatScore,
  rankHits,
  type KnowledgeDocument,
} from "@/lib/knowledge";

type SearchOut = Schemas["SearchOut"];

const K_CHOICES = [3, 5, 10, 20];

/**
 * Test retrieval: the same hybrid search the workflows' `retrieve` step runs, with the ranks
 * and the fused score of every chunk it returns.
 */
export function RetrievalTester({ documents }: { documents: KnowledgeDocument[] }) {
  const id = useId();
  const [query, setQuery] = useState("");
  const [documentId, setDocumentId] = useState("");
  const [tag, setTag] = useState("");
  const [k, setK] = useState(5);
  const [busy, setBusy] = useState(false);
  const [answer, setAnswer] = useState<SearchOut | null>(null);
  const [error, setError] = useState<string | null>(null);
  const tags = allTags(documents);
  const ready = documents.filter((d) => d.status === "ready");
  // A filter on a document that is gone no longer applies.
  const filterDocument = documents.some((d) => d.id === documentId) ? documentId : "";

  async function search(e: FormEvent) {
    e.preventDefault();
    const text = query.trim();
    if (!text) return;
    setBusy(true);
    setError(null);
    try {
      const out = await call((api) =>
        api.POST("/v1/knowledge/search", {
          body: {
            query: text,
            k,
            document_ids: filterDocument ? [filterDocument] : [],
            tags: tag && tags.includes(tag) ? [tag] : [],
          },
        }),
      );
      setAnswer(out);
    } catch (err) {
      setAnswer(null);
      setError(`The search failed: ${(err as ApiError).message}`);
    } finally {
      setBusy(false);
    }
  }

  const hits = answer ? rankHits(answer.hits) : [];
  const names = new Map(documents.map((d) => [d.id, d]));

  return (
    <section className="panel retrieval" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Test retrieval</h2>
      <p className="muted retrieval-intro">
        Ask what a customer would ask: this runs the very search a workflow&apos;s retrieve step runs, over the documents
        that are ready.
      </p>
      <form className="retrieval-form" onSubmit={search} role="search" aria-label="Test retrieval">
        <div className="field field-query">
          <label htmlFor={`${id}-q`}>Question</label>
          <input
            id={`${id}-q`}
            type="search"
            value={query}
            maxLength={2000}
            placeholder="e.g. How long do I have to return an item?"
            onChange={(e) => setQuery(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor={`${id}-doc`}>Document</label>
          <select id={`${id}-doc`} value={filterDocument} onChange={(e) => setDocumentId(e.target.value)}>
            <option value="">All documents</option>
            {ready.map((d) => (
              <option key={d.id} value={d.id}>
                {d.filename}
              </option>
            ))}
          </select>
        </div>
        {tags.length ? (
          <div className="field">
            <label htmlFor={`${id}-tag`}>Tag</label>
            <select id={`${id}-tag`} value={tags.includes(tag) ? tag : ""} onChange={(e) => setTag(e.target.value)}>
              <option value="">Any tag</option>
              {tags.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          </div>
        ) : null}
        <div className="field field-k">
          <label htmlFor={`${id}-k`}>Chunks</label>
          <select id={`${id}-k`} value={k} onChange={(e) => setK(Number(e.target.value))}>
            {K_CHOICES.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" disabled={busy || !query.trim()}>
          {busy ? "Searching…" : "Search"}
        </button>
      </form>
      <p className="rank-explainer small">
        Each chunk is found two ways, by meaning (<strong>vector rank</strong>: its place among the chunks whose
        embeddings lie nearest the question) and by words (<strong>text rank</strong>: its place in full-text search),
        and the <strong>fused score</strong> adds 1/(60 + rank) for each, so chunks both searches rank high come first
        (“—”: not among that search&apos;s candidates).
      </p>

      <div aria-live="polite" className="retrieval-results">
        {error ? <p className="form-error">{error}</p> : null}
        {answer ? (
          hits.length === 0 ? (
            <div className="state state-empty retrieval-empty">
              <h3>Nothing matched “{answer.query}”</h3>
              <p>
                {ready.length === 0
                  ? "No document is ready yet: upload one and wait until it is ready."
                  : filterDocument || tag
                    ? "The chosen document or tag has no searchable chunks: search all documents instead."
                    : "Try other words, or upload the document that answers the question."}
              </p>
            </div>
          ) : (
            <>
              <p className="small muted">
                {hits.length} {hits.length === 1 ? "chunk" : "chunks"} for “{answer.query}”, best first; embedded with{" "}
                <span className="mono">{answer.embedding_model}</span>.
              </p>
              <ol className="hit-list" aria-label="Retrieved chunks, best first">
                {hits.map((hit, index) => {
                  const doc = names.get(hit.document_id);
                  const title = distinctTitle(hit.filename, hit.title);
                  return (
                    <li key={hit.chunk_id} className="hit" data-chunk-id={hit.chunk_id} data-filename={hit.filename}>
                      <div className="hit-head">
                        <span className="hit-rank" aria-label={`Rank ${index + 1}`}>
                          {index + 1}
                        </span>
                        <div className="hit-where">
                          <span className="hit-document">
                            {hit.filename}
                            {title ? <span className="muted"> · {title}</span> : null}
                            {doc === undefined ? <span className="muted"> (deleted)</span> : null}
                          </span>
                          {hit.heading ? <span className="hit-heading">{hit.heading}</span> : null}
                        </div>
                        <dl className="hit-scores">
                          <div>
                            <dt>Vector rank</dt>
                            <dd data-testid="vector-rank">{formatRank(hit.vector_rank)}</dd>
                          </div>
                          <div>
                            <dt>Text rank</dt>
                            <dd data-testid="text-rank">{formatRank(hit.text_rank)}</dd>
                          </div>
                          <div>
                            <dt>Fused score</dt>
                            <dd data-testid="score">{formatScore(hit.score)}</dd>
                          </div>
                        </dl>
                      </div>
                      <blockquote className="hit-text long-text">{chunkBody(hit.text, hit.heading)}</blockquote>
                    </li>
                  );
                })}
              </ol>
            </>
          )
        ) : null}
      </div>
    </section>
  );
}
