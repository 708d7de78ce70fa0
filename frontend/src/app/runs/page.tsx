"use client";

import { Suspense } from "react";

import { RunsListView } from "@/components/runs/RunsListView";
import { Loading } from "@/components/states";

/** Runs: every run of the tenant, filtered by the query string (a static export reads it on the
 * client, hence the Suspense boundary). */
export default function RunsPage() {
  return (
    <Suspense fallback={<Loading what="Loading runs" />}>
      <RunsListView />
    </Suspense>
  );
}
