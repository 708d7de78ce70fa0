/**
 * Uploading one document: small files as multipart through the API (the typed client, so the
 * bearer token and the 401 handling are the ones every call uses), larger ones with a presigned
 * S3 PUT the API hands out, sent with XMLHttpRequest so the page can show its progress.
 */
import { ApiError, call } from "@/lib/api/client";
import {
  storageRefusal,
  uploadRefusal,
  uploadRoute,
  type KnowledgeDocument,
  type UploadRoute,
} from "@/lib/knowledge";

/** An upload that did not happen, with the reason in words. */
export class UploadRefused extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = "UploadRefused";
    this.status = status;
  }
}

/** Progress of the bytes: a fraction 0–1, or null while the browser cannot tell. */
export type OnProgress = (fraction: number | null) => void;

export async function uploadDocument(
  file: File,
  tags: string[],
  onProgress: OnProgress,
): Promise<{ document: KnowledgeDocument; route: UploadRoute }> {
  const route = uploadRoute(file.size);
  const refused = (e: unknown): UploadRefused => {
    const err = e instanceof ApiError ? e : new ApiError(0, String(e));
    return new UploadRefused(err.status, uploadRefusal(err.status, file.name, file.size, err.message));
  };

  if (route === "direct") {
    onProgress(null);
    try {
      const document = await call((api) =>
        api.POST("/v1/documents", {
          // The schema types the file part as a string; the serializer sends the real file.
          body: { file: file.name, tags },
          bodySerializer: () => {
            const form = new FormData();
            form.append("file", file, file.name);
            for (const tag of tags) form.append("tags", tag);
            return form;
          },
        }),
      );
      onProgress(1);
      return { document, route };
    } catch (e) {
      throw refused(e);
    }
  }

  let upload;
  try {
    upload = await call((api) =>
      api.POST("/v1/documents/uploads", {
        body: { filename: file.name, content_type: file.type || null, size_bytes: file.size, tags },
      }),
    );
  } catch (e) {
    throw refused(e);
  }
  onProgress(0);
  const status = await put(upload.url, upload.headers, file, onProgress);
  if (status < 200 || status >= 300) {
    // The document would wait for bytes that never come: take it away again.
    await call((api) =>
      api.DELETE("/v1/documents/{document_id}", { params: { path: { document_id: upload.document.id } } }),
    ).catch(() => undefined);
    throw new UploadRefused(status, storageRefusal(status, file.name));
  }
  onProgress(1);
  return { document: upload.document, route };
}

/** PUT the file to a presigned URL; resolves with the HTTP status (0: the request failed). */
function put(url: string, headers: Record<string, string>, file: File, onProgress: OnProgress): Promise<number> {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => onProgress(event.lengthComputable ? event.loaded / event.total : null);
    xhr.onload = () => resolve(xhr.status);
    xhr.onerror = () => resolve(0);
    xhr.onabort = () => resolve(0);
    xhr.send(file);
  });
}
