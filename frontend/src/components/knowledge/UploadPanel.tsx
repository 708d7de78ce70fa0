"use client";

import { useCallback, useEffect, useId, useRef, useState, type DragEvent } from "react";

import { DocumentStatusBadge } from "@/components/knowledge/DocumentStatusBadge";
import {
  ACCEPT,
  MAX_DIRECT_BYTES,
  MAX_DOCUMENT_BYTES,
  formatBytes,
  parseTags,
  uploadRoute,
  type KnowledgeDocument,
  type UploadRoute,
} from "@/lib/knowledge";
import { UploadRefused, uploadDocument } from "@/lib/knowledgeUpload";

type UploadState = "waiting" | "uploading" | "stored" | "refused";

interface UploadItem {
  key: string;
  name: string;
  size: number;
  route: UploadRoute;
  state: UploadState;
  progress: number | null;
  documentId?: string;
  message?: string;
}

interface Job {
  key: string;
  file: File;
  tags: string[];
}

let counter = 0;

/**
 * Drop files here or choose them (several at once): each one uploads in turn, through the API
 * up to 5 MiB and straight to storage (a presigned PUT) above that, then follows its document
 * from queued to ready or failed as the list refreshes.
 */
export function UploadPanel({
  documents,
  onUploaded,
}: {
  documents: KnowledgeDocument[] | undefined;
  onUploaded: (document: KnowledgeDocument) => void;
}) {
  const inputId = useId();
  const tagsId = useId();
  const hintId = useId();
  const input = useRef<HTMLInputElement>(null);
  const [dragging, setDragging] = useState(false);
  const [tagText, setTagText] = useState("");
  const [tagError, setTagError] = useState<string | null>(null);
  const [items, setItems] = useState<UploadItem[]>([]);
  const queue = useRef<Job[]>([]);
  const running = useRef(false);
  const onUploadedRef = useRef(onUploaded);
  onUploadedRef.current = onUploaded;

  const update = useCallback((key: string, change: Partial<UploadItem>) => {
    setItems((all) => all.map((item) => (item.key === key ? { ...item, ...change } : item)));
  }, []);

  const pump = useCallback(async () => {
    if (running.current) return;
    running.current = true;
    try {
      for (let job = queue.current.shift(); job; job = queue.current.shift()) {
        const { key, file, tags } = job;
        update(key, { state: "uploading", progress: null });
        try {
          const { document } = await uploadDocument(file, tags, (progress) => update(key, { progress }));
          update(key, { state: "stored", progress: 1, documentId: document.id });
          onUploadedRef.current(document);
        } catch (e) {
          const message = e instanceof UploadRefused ? e.message : `${file.name} was not uploaded: ${String(e)}`;
          update(key, { state: "refused", message });
        }
      }
    } finally {
      running.current = false;
    }
  }, [update]);

  const add = useCallback(
    (files: FileList | File[] | null) => {
      const chosen = files ? Array.from(files) : [];
      if (!chosen.length) return;
      const { tags, error } = parseTags(tagText);
      setTagError(error);
      if (error) return;
      const fresh = chosen.map((file) => {
        counter += 1;
        return { key: `u${counter}`, file, tags };
      });
      setItems((all) => [
        ...fresh.map(({ key, file }) => ({
          key,
          name: file.name,
          size: file.size,
          route: uploadRoute(file.size),
          state: "waiting" as const,
          progress: null,
        })),
        ...all,
      ]);
      queue.current.push(...fresh);
      void pump();
    },
    [tagText, pump],
  );

  // A file dropped beside the zone must not replace the dashboard with the file itself.
  useEffect(() => {
    const stop = (e: globalThis.DragEvent) => {
      if (e.dataTransfer?.types.includes("Files")) e.preventDefault();
    };
    window.addEventListener("dragover", stop);
    window.addEventListener("drop", stop);
    return () => {
      window.removeEventListener("dragover", stop);
      window.removeEventListener("drop", stop);
    };
  }, []);

  const onDrag = (e: DragEvent<HTMLDivElement>) => {
    if (!e.dataTransfer.types.includes("Files")) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    setDragging(true);
  };
  const onLeave = (e: DragEvent<HTMLDivElement>) => {
    if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setDragging(false);
  };
  const onDrop = (e: DragEvent<HTMLDivElement>) => {
    e.preventDefault();
    setDragging(false);
    add(e.dataTransfer.files);
  };

  const byId = new Map((documents ?? []).map((d) => [d.id, d]));
  const finished = items.filter((i) => i.state === "refused" || i.state === "stored").length;

  return (
    <section className="panel upload-panel" aria-labelledby={`${inputId}-title`}>
      <h2 id={`${inputId}-title`}>Add documents</h2>
      <div className="upload-tags">
        <label htmlFor={tagsId}>Tags for the next files (optional)</label>
        <input
          id={tagsId}
          type="text"
          value={tagText}
          placeholder="e.g. returns, faq"
          aria-describedby={`${tagsId}-hint`}
          aria-invalid={tagError ? true : undefined}
          onChange={(e) => {
            setTagText(e.target.value);
            if (tagError) setTagError(parseTags(e.target.value).error);
          }}
        />
        <p id={`${tagsId}-hint`} className="field-hint">
          Separate with commas or spaces. Test retrieval and workflows can search by tag.
        </p>
        {tagError ? (
          <p className="form-error" role="alert">
            {tagError}
          </p>
        ) : null}
      </div>
      <div
        className={`drop-zone${dragging ? " dragging" : ""}`}
        data-testid="drop-zone"
        onDragEnter={onDrag}
        onDragOver={onDrag}
        onDragLeave={onLeave}
        onDrop={onDrop}
      >
        <p className="drop-title">
          <span aria-hidden="true">⇪ </span>Drop files here
        </p>
        <p className="muted" id={hintId}>
          PDF, Markdown, plain text, HTML or CSV; up to {formatBytes(MAX_DOCUMENT_BYTES)} each (files over{" "}
          {formatBytes(MAX_DIRECT_BYTES)} go straight to storage).
        </p>
        <input
          ref={input}
          id={inputId}
          className="visually-hidden"
          type="file"
          multiple
          accept={ACCEPT}
          tabIndex={-1}
          aria-hidden="true"
          data-testid="upload-input"
          onChange={(e) => {
            add(e.target.files);
            e.target.value = "";
          }}
        />
        <button type="button" aria-describedby={hintId} onClick={() => input.current?.click()}>
          Choose files…
        </button>
      </div>

      {items.length ? (
        <div className="upload-list-wrap">
          <div className="upload-list-head">
            <h3>Uploads</h3>
            {finished ? (
              <button
                type="button"
                className="link-button"
                onClick={() => setItems((all) => all.filter((i) => i.state === "waiting" || i.state === "uploading"))}
              >
                Clear finished
              </button>
            ) : null}
          </div>
          <ul className="upload-list" aria-live="polite">
            {items.map((item) => (
              <UploadRow key={item.key} item={item} document={item.documentId ? byId.get(item.documentId) : undefined} />
            ))}
          </ul>
        </div>
      ) : null}
    </section>
  );
}

function UploadRow({ item, document }: { item: UploadItem; document: KnowledgeDocument | undefined }) {
  const how = item.route === "direct" ? "through the API" : "straight to storage";
  return (
    <li className={`upload-item upload-${item.state}`} data-upload-state={item.state} data-filename={item.name}>
      <div className="upload-name">
        <strong>{item.name}</strong> <span className="muted small">{formatBytes(item.size)}</span>
      </div>
      <div className="upload-state">
        {item.state === "waiting" ? <span className="muted">Waiting its turn…</span> : null}
        {item.state === "uploading" ? (
          <span className="upload-progress">
            <span>Uploading {how}</span>
            <progress max={1} value={item.progress ?? undefined} aria-label={`Upload of ${item.name}`} />
            {item.progress !== null ? <span className="small">{Math.round(item.progress * 100)}%</span> : null}
          </span>
        ) : null}
        {item.state === "stored" ? (
          document ? (
            <span className="upload-followed">
              <span className="muted">Uploaded</span> <span aria-hidden="true">→</span>{" "}
              <DocumentStatusBadge status={document.status} />
              {document.status === "ready" ? (
                <span className="small">
                  {document.chunk_count} {document.chunk_count === 1 ? "chunk" : "chunks"}
                </span>
              ) : null}
              {document.status === "failed" && document.error ? (
                <span className="form-error small">{document.error}</span>
              ) : null}
            </span>
          ) : (
            <span className="message-ok">Uploaded.</span>
          )
        ) : null}
        {item.state === "refused" ? (
          <span className="form-error">{item.message}</span>
        ) : null}
      </div>
    </li>
  );
}
