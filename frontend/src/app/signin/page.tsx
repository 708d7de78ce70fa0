"use client";

import { useRouter } from "next/navigation";
import { useEffect, useState, type FormEvent } from "react";

import { ApiError, call } from "@/lib/api/client";
import { clearToken, setToken, takeSignInNotice } from "@/lib/session";

/** Sign in with an API token, or with a one-time link (`/signin/#code=…`, made by an admin
 * or printed by `make dev`). The token is kept in session storage only. */
export default function SignInPage() {
  const router = useRouter();
  const [token, setTokenInput] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function verify(candidate: string): Promise<void> {
    setToken(candidate);
    try {
      await call((api) => api.GET("/v1/me"), { authenticated: false });
    } catch (e) {
      clearToken();
      throw e;
    }
    router.replace("/");
  }

  useEffect(() => {
    setNotice(takeSignInNotice());
    const code = new URLSearchParams(window.location.hash.slice(1)).get("code");
    if (!code) return;
    // The code leaves the address bar at once: it must not be bookmarked or shared.
    window.history.replaceState(null, "", window.location.pathname);
    setBusy(true);
    call((api) => api.POST("/v1/sign-in", { body: { code } }), { authenticated: false })
      .then((session) => verify(session.token))
      .catch((e: ApiError) => {
        setError(
          e.status === 401
            ? "This sign-in link was already used or has expired. Ask for a new one, or sign in with a token."
            : e.message,
        );
        setBusy(false);
      });
  }, []); // eslint-disable-line react-hooks/exhaustive-deps

  async function submit(event: FormEvent) {
    event.preventDefault();
    const candidate = token.trim();
    if (!candidate) {
      setError("Paste the API token you were given.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await verify(candidate);
    } catch (e) {
      const err = e as ApiError;
      setError(
        err.status === 401 ? "That token is not valid: it is unknown, revoked or expired." : err.message,
      );
      setBusy(false);
    }
  }

  return (
    <div className="signin">
      <h1>Flightdeck</h1>
      <p className="muted">Sign in to see your automations, their runs and what they were worth.</p>
      {notice ? (
        <p className="notice" role="status">
          {notice}
        </p>
      ) : null}
      <form onSubmit={submit}>
        <label htmlFor="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          placeholder="fd_…"
          value={token}
          onChange={(e) => setTokenInput(e.target.value)}
        />
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        {error ? (
          <p className="form-error" role="alert">
            {error}
          </p>
        ) : null}
      </form>
    </div>
  );
}
