"use client";

import type { ReactNode } from "react";

import type { ApiError } from "@/lib/api/client";

/** Every state a page can be in has one look: loading, empty, failed. */
export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <div className="state state-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> {what}…
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="state state-empty">
      <h2>{title}</h2>
      {children}
    </div>
  );
}

export function ErrorPanel({ error, retry }: { error: ApiError; retry?: () => void }) {
  const title = error.unreachable
    ? "The API is not reachable"
    : error.status === 403
      ? "Not allowed"
      : error.status === 404
        ? "Not found"
        : "Something went wrong";
  return (
    <div className="state state-error" role="alert">
      <h2>{title}</h2>
      <p className="error-detail">{error.message}</p>
      {retry ? (
        <button type="button" onClick={retry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}
