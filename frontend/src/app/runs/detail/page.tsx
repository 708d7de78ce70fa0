"use client";

import { Suspense } from "react";

import { RunDetailView } from "@/components/runs/RunDetailView";
import { Loading } from "@/components/states";

/** One run, named by `?id=<uuid>` (a static export has no per-run pages; the query string
 * carries the id, so the Suspense boundary is needed). */
export default function RunDetailPage() {
  return (
    <Suspense fallback={<Loading what="Loading the run" />}>
      <RunDetailView />
    </Suspense>
  );
}
