/**
 * What the Knowledge page decides on its own: which upload path a file takes, how sizes, types
 * and statuses read, when the document list keeps refreshing, which tags are valid, and what an
 * upload refusal means in words. Pure functions: tested in knowledge.test.ts.
 */
import type { Schemas } from "@/lib/api/client";

export type KnowledgeDocument = Schemas["DocumentOut"];
export type DocumentStatus = KnowledgeDocument["status"];
export type SearchHit = Schemas["SearchHit"];

const MIB = 1024 * 1024;
/** Files up to this size go through the API as multipart (`POST /v1/documents`). */
export const MAX_DIRECT_BYTES = 5 * MIB;
/** Larger files, up to this size, go straight to S3 with a presigned PUT. */
export const MAX_DOCUMENT_BYTES = 50 * MIB;
/** How often the list refreshes while a document is queued or ingesting. */
export const POLL_MS = 2000;

/** The formats ingestion reads, as the API names them, with the extensions it recognises. */
export const DOCUMENT_TYPES: { type: string; label: string; extensions: string[] }[] = [
  { type: "application/pdf", label: "PDF", extensions: [".pdf"] },
  { type: "text/markdown", label: "Markdown", extensions: [".md", ".markdown"] },
  { type: "text/plain", label: "Plain text", extensions: [".txt", ".text"] },
  { type: "text/html", label: "HTML", extensions: [".html", ".htm"] },
  { type: "text/csv", label: "CSV", extensions: [".csv"] },
];

/** The file picker's `accept`: the supported extensions and types. A dropped file of another
 * type still goes to the API, which answers 415 in words. */
export const ACCEPT = DOCUMENT_TYPES.flatMap((t) => [...t.extensions, t.type]).join(",");

export type UploadRoute = "direct" | "presigned";

/** Small files travel through the API; bigger ones (the API refuses over 50 MiB with a 413)
 * go to S3 with a presigned PUT, because API Gateway caps a request at 10 MB. */
export function uploadRoute(sizeBytes: number): UploadRoute {
  return sizeBytes <= MAX_DIRECT_BYTES ? "direct" : "presigned";
}

/** "0 B", "812 B", "12.4 KiB", "5 MiB", "1.2 GiB" (binary units, as the limits are). */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0) return "—";
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  // One decimal below 100 ("12.4 KiB"), none above ("512 KiB") or when it is 0 ("5 MiB");
  // never "1024 KiB".
  let text = value < 100 ? value.toFixed(1) : String(Math.round(value));
  if (text === "1024" && unit < units.length - 1) {
    text = "1.0";
    unit += 1;
  }
  return `${text.replace(/\.0$/, "")} ${units[unit]}`;
}

/** "PDF", "Markdown", …; an unknown type as the API gave it. */
export function documentTypeLabel(contentType: string | null | undefined): string {
  if (!contentType) return "—";
  const base = contentType.split(";", 1)[0].trim().toLowerCase();
  return DOCUMENT_TYPES.find((t) => t.type === base)?.label ?? base;
}

/** Queued or ingesting: the document will change by itself soon. */
export function isMovingDocument(status: DocumentStatus | string): boolean {
  return status === "queued" || status === "ingesting";
}

/** Keep refreshing the list while any document is on its way to `ready` or `failed`, or an
 * upload just finished and its document is not in the list yet. */
export function shouldPoll(
  documents: readonly Pick<KnowledgeDocument, "id" | "status">[] | undefined,
  awaitedIds: readonly string[] = [],
): boolean {
  if (documents === undefined) return false;
  if (documents.some((d) => isMovingDocument(d.status))) return true;
  const listed = new Set(documents.map((d) => d.id));
  return awaitedIds.some((id) => !listed.has(id));
}

export const STATUS_WORDS: Record<DocumentStatus, { symbol: string; label: string; explain: string }> = {
  queued: { symbol: "○", label: "queued", explain: "stored; waiting to be read" },
  ingesting: { symbol: "▶", label: "ingesting", explain: "being read, chunked and embedded" },
  ready: { symbol: "✓", label: "ready", explain: "searchable" },
  failed: { symbol: "✕", label: "failed", explain: "could not be ingested" },
};

const TAG = /^[a-z0-9][a-z0-9_:-]{0,63}$/;
export const MAX_TAGS = 20;

/** Tags typed as "faq, returns policy" → ["faq", "returns", "policy"]: split on commas and
 * spaces, lower-cased, duplicates dropped; the API's rule (a-z, 0-9, `_ : -`, at most 64
 * characters, starting with a letter or digit; at most 20) checked here first. */
export function parseTags(input: string): { tags: string[]; error: string | null } {
  const tags: string[] = [];
  const bad: string[] = [];
  for (const raw of input.split(/[\s,]+/)) {
    const tag = raw.trim().toLowerCase();
    if (!tag) continue;
    if (!TAG.test(tag)) bad.push(raw.trim());
    else if (!tags.includes(tag)) tags.push(tag);
  }
  if (bad.length) {
    return {
      tags,
      error: `${bad.map((t) => `“${t}”`).join(", ")} ${bad.length === 1 ? "is not a valid tag" : "are not valid tags"}: use lower-case letters, digits, “_”, “:” or “-” (at most 64 characters, starting with a letter or digit).`,
    };
  }
  if (tags.length > MAX_TAGS) return { tags, error: `At most ${MAX_TAGS} tags per document.` };
  return { tags, error: null };
}

/** Every tag in use, sorted, for the retrieval filter. */
export function allTags(documents: readonly Pick<KnowledgeDocument, "tags">[]): string[] {
  return [...new Set(documents.flatMap((d) => d.tags))].sort();
}

/** Why an upload was refused, in words: the API's 413 and 415 and 403 answers, and the rest. */
export function uploadRefusal(
  status: number,
  fileName: string,
  sizeBytes: number,
  apiMessage: string,
): string {
  switch (status) {
    case 0:
      return `${fileName} was not uploaded: the connection failed. Check it and try again.`;
    case 401:
      return `${fileName} was not uploaded: your session has ended. Sign in again.`;
    case 403:
      return `${fileName} was not uploaded: your role cannot add documents. Uploads need an operator or admin sign-in.`;
    case 413:
      return `${fileName} is too large (${formatBytes(sizeBytes)}): documents can be at most ${formatBytes(MAX_DOCUMENT_BYTES)}. Split it into smaller files.`;
    case 415:
      return `${fileName} is of a type Flightdeck cannot read: upload PDF, Markdown, plain text, HTML or CSV files.`;
    default:
      return `${fileName} was not uploaded: ${apiMessage}`;
  }
}

/** Why the presigned PUT to S3 failed (S3 answers in XML, not problem details). */
export function storageRefusal(status: number, fileName: string): string {
  if (status === 0) return `${fileName} did not reach storage: the connection failed or the storage refused this site. Try again.`;
  if (status === 403) return `${fileName} did not reach storage: the upload link was refused (it may have expired). Try again.`;
  if (status === 400 || status === 413) return `${fileName} did not reach storage: it was refused as sent (HTTP ${status}).`;
  return `${fileName} did not reach storage (HTTP ${status}). Try again in a moment.`;
}

/** "#3", or "—" when that search did not find the chunk. */
export function formatRank(rank: number | null | undefined): string {
  return rank === null || rank === undefined ? "—" : `#${rank}`;
}

/** The fused score with enough digits to tell neighbours apart (scores are ~1/60 each). */
export function formatScore(score: number): string {
  return Number.isFinite(score) ? score.toFixed(4) : "—";
}

/** Hits best first (the API already sends them so; ties keep the API's order). */
export function rankHits<T extends Pick<SearchHit, "score">>(hits: readonly T[]): T[] {
  return hits
    .map((hit, index) => ({ hit, index }))
    .sort((a, b) => b.hit.score - a.hit.score || a.index - b.index)
    .map(({ hit }) => hit);
}

/** A document's title when it says more than its file name (the extractor falls back to the
 * name without extension). */
export function distinctTitle(filename: string, title: string | null | undefined): string | null {
  const t = title?.trim();
  if (!t) return null;
  const name = filename.trim().toLowerCase();
  const stem = name.replace(/\.[^.]*$/, "");
  return t.toLowerCase() === name || t.toLowerCase() === stem ? null : t;
}

/** A chunk's text without its leading heading line when the page already shows that heading
 * (the chunker puts the heading path in front of the text, so the embedding sees it). */
export function chunkBody(text: string, heading: string | null | undefined): string {
  const h = heading?.trim();
  if (!h) return text;
  const trimmed = text.replace(/^\s+/, "");
  const firstLine = trimmed.split("\n", 1)[0].trim().replace(/^#+\s*/, "");
  if (firstLine !== h) return text;
  const rest = trimmed.slice(trimmed.indexOf("\n") + 1).replace(/^\s+/, "");
  return trimmed.includes("\n") && rest ? rest : text;
}

/** Documents newest first. */
export function newestFirst<T extends Pick<KnowledgeDocument, "created_at">>(documents: readonly T[]): T[] {
  return [...documents].sort((a, b) => b.created_at.localeCompare(a.created_at));
}
