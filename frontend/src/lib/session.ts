/** The signed-in token lives in session storage only: never in the URL, never in local storage,
 * gone when the tab closes. */
const TOKEN_KEY = "flightdeck.token";
const NOTICE_KEY = "flightdeck.signin-notice";

export function getToken(): string | null {
  if (typeof window === "undefined") return null;
  return window.sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string): void {
  window.sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken(): void {
  window.sessionStorage.removeItem(TOKEN_KEY);
}

/** A message for the sign-in page to show once (e.g. "your session expired"). */
export function setSignInNotice(message: string): void {
  window.sessionStorage.setItem(NOTICE_KEY, message);
}

export function takeSignInNotice(): string | null {
  const message = window.sessionStorage.getItem(NOTICE_KEY);
  window.sessionStorage.removeItem(NOTICE_KEY);
  return message;
}
