"use client";

import { usePathname, useRouter } from "next/navigation";
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";

import { call, onUnauthorized, type Schemas } from "@/lib/api/client";
import { clearToken, getToken, setSignInNotice } from "@/lib/session";
import { ErrorPanel, Loading } from "@/components/states";
import type { ApiError } from "@/lib/api/client";

export type Me = Schemas["MeOut"];
export type Role = Me["role"];

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export interface Session {
  me: Me;
  /** True when the signed-in role is at least `role` (the API enforces the same underneath). */
  can: (role: Role) => boolean;
  signOut: (notice?: string) => void;
}

const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a signed-in page");
  return session;
}

/** Pages other than sign-in render only with a live session: the role comes from the API
 * (`GET /v1/me`), and any 401 later (expired or revoked token) ends the session with a message. */
export function SessionProvider({ children }: { children: ReactNode }) {
  const router = useRouter();
  const pathname = usePathname();
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [attempt, setAttempt] = useState(0);
  const onSignIn = pathname?.startsWith("/signin") ?? false;

  const signOut = useCallback(
    (notice?: string) => {
      const token = getToken();
      clearToken();
      setMe(null);
      if (notice) setSignInNotice(notice);
      if (token && !notice) {
        // A dashboard session token is revoked on the server too; others are left alone.
        void call((api) =>
          api.POST("/v1/sign-out", { headers: { authorization: `Bearer ${token}` } }),
        ).catch(() => undefined);
      }
      router.replace("/signin/");
    },
    [router],
  );

  useEffect(() => onUnauthorized((message) => signOut(message)), [signOut]);

  useEffect(() => {
    if (onSignIn) return;
    if (!getToken()) {
      router.replace("/signin/");
      return;
    }
    let cancelled = false;
    setError(null);
    call((api) => api.GET("/v1/me"))
      .then((value) => !cancelled && setMe(value))
      .catch((e: ApiError) => !cancelled && e.status !== 401 && setError(e));
    return () => {
      cancelled = true;
    };
  }, [onSignIn, router, attempt]);

  if (onSignIn) return <>{children}</>;
  if (error) return <ErrorPanel error={error} retry={() => setAttempt((a) => a + 1)} />;
  if (!me) return <Loading what="Signing in" />;
  const session: Session = { me, can: (role) => RANK[me.role] >= RANK[role], signOut };
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}
