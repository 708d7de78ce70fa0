/**
 * The typed API client, generated from docs/openapi.json (`npm run gen:api` writes schema.d.ts;
 * a test fails when it drifts from the contract). Every call goes through `call`, which turns
 * the API's problem details and network failures into an `ApiError` with a plain message.
 */
import createClient, { type Client } from "openapi-fetch";

import { loadConfig } from "@/lib/config";
import { getToken } from "@/lib/session";

import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type ApiClient = Client<paths>;

export interface Problem {
  type?: string;
  title: string;
  status: number;
  detail: string;
  errors?: { field: string; message: string }[] | null;
}

/** What went wrong, in words a person can act on. `status` 0: the API could not be reached. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem | null;

  constructor(status: number, message: string, problem: Problem | null = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
  }

  get unreachable(): boolean {
    return this.status === 0;
  }
}

export function isProblem(value: unknown): value is Problem {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Problem).status === "number" &&
    typeof (value as Problem).detail === "string"
  );
}

/** The message shown for a failed call: the problem's detail, or what the status means. */
export function errorMessage(status: number, body: unknown): string {
  if (isProblem(body)) return body.detail || body.title;
  if (status === 0) return "The Flightdeck API cannot be reached. Check your connection and try again.";
  if (status === 401) return "Your session has ended. Please sign in again.";
  if (status === 403) return "Your role does not allow this.";
  if (status === 404) return "Not found.";
  if (status >= 500) return `The API failed (HTTP ${status}). Try again in a moment.`;
  return `The request failed (HTTP ${status}).`;
}

let client: Promise<ApiClient> | null = null;

/** Listeners told when the API answers 401 (the token expired or was revoked). */
const unauthorizedListeners = new Set<(message: string) => void>();

export function onUnauthorized(listener: (message: string) => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

export function apiClient(): Promise<ApiClient> {
  if (!client) {
    client = loadConfig().then((config) => {
      const c = createClient<paths>({ baseUrl: config.apiUrl });
      c.use({
        onRequest({ request }) {
          const token = getToken();
          if (token && !request.headers.has("authorization")) {
            request.headers.set("authorization", `Bearer ${token}`);
          }
          return request;
        },
      });
      return c;
    });
  }
  return client;
}

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * Run one call and return its data, or throw an `ApiError`. A 401 on an authenticated call
 * tells the session (which signs out and goes back to sign-in with the message).
 */
export async function call<T>(
  request: (api: ApiClient) => Promise<Answer<T>>,
  { authenticated = true }: { authenticated?: boolean } = {},
): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await request(await apiClient());
  } catch {
    throw new ApiError(0, errorMessage(0, null));
  }
  const { response } = answer;
  if (!response.ok) {
    const problem = isProblem(answer.error) ? answer.error : null;
    const message = errorMessage(response.status, answer.error);
    if (response.status === 401 && authenticated) {
      const notice = "Your session has ended (it expired or was revoked). Please sign in again.";
      unauthorizedListeners.forEach((listener) => listener(notice));
    }
    throw new ApiError(response.status, message, problem);
  }
  return answer.data as T;
}
