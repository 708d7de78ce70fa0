"use client";

import { useCallback, useEffect, useRef, useState } from "react";

import { ApiError } from "@/lib/api/client";

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | null;
  loading: boolean;
  /** Load again now (keeps showing the current data meanwhile). */
  reload: () => void;
}

/**
 * Load with `fetcher` whenever `key` changes; with `refreshMs`, load again on that interval
 * while `keepRefreshing(data)` says so (runs still moving, say). Errors keep the last data.
 */
export function useApi<T>(
  key: string | null,
  fetcher: () => Promise<T>,
  { refreshMs, keepRefreshing }: { refreshMs?: number; keepRefreshing?: (data: T) => boolean } = {},
): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState<boolean>(key !== null);
  const [tick, setTick] = useState(0);
  const fetcherRef = useRef(fetcher);
  fetcherRef.current = fetcher;
  const lastKey = useRef<string | null>(null);

  useEffect(() => {
    if (key === null) return;
    let cancelled = false;
    if (lastKey.current !== key) {
      lastKey.current = key;
      setData(undefined);
    }
    setLoading(true);
    fetcherRef
      .current()
      .then((value) => {
        if (cancelled) return;
        setData(value);
        setError(null);
      })
      .catch((e: unknown) => {
        if (cancelled) return;
        setError(e instanceof ApiError ? e : new ApiError(0, String(e)));
      })
      .finally(() => {
        if (!cancelled) setLoading(false);
      });
    return () => {
      cancelled = true;
    };
  }, [key, tick]);

  useEffect(() => {
    if (!refreshMs || data === undefined) return;
    if (keepRefreshing && !keepRefreshing(data)) return;
    const timer = window.setTimeout(() => setTick((t) => t + 1), refreshMs);
    return () => window.clearTimeout(timer);
  }, [data, refreshMs, keepRefreshing]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}
