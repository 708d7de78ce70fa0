/** The runtime configuration the host serves beside the build (`/config.json`): the same build
 * runs on every stage, and locally, with only this file differing. */
export interface RuntimeConfig {
  /** The API's base URL; empty: the API is on the dashboard's own origin. */
  apiUrl: string;
  stage?: string;
}

let loaded: Promise<RuntimeConfig> | null = null;

export function loadConfig(): Promise<RuntimeConfig> {
  if (!loaded) {
    loaded = fetch("/config.json", { cache: "no-store" })
      .then((r): Promise<Partial<RuntimeConfig>> | Partial<RuntimeConfig> => (r.ok ? r.json() : {}))
      .catch((): Partial<RuntimeConfig> => ({}))
      .then((c) => ({ ...c, apiUrl: String(c.apiUrl ?? "").replace(/\/+$/, "") }));
  }
  return loaded;
}
