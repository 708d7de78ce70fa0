"""`make reembed`: re-embed a tenant's knowledge with the configured embedding model.

Calls `POST /v1/knowledge/reembed` (admin), which queues every document embedded with another
model (or failed) for ingestion again. By default it talks to the running `make dev` stack with
the demo tenant's admin token from `.flightdeck/dev-credentials.json`; for a deployed stage set
FLIGHTDECK_API (the API's base URL) and FLIGHTDECK_ADMIN_TOKEN, and FLIGHTDECK_TENANT (a tenant
id granted to that admin) to act for a client.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import httpx

CREDENTIALS = Path(os.environ.get("FLIGHTDECK_DATA_DIR", ".flightdeck")) / "dev-credentials.json"


def main() -> int:
    api = os.environ.get("FLIGHTDECK_API")
    token = os.environ.get("FLIGHTDECK_ADMIN_TOKEN")
    if not (api and token):
        try:
            creds = json.loads(CREDENTIALS.read_text())
        except (OSError, ValueError):
            print(
                f"reembed: no {CREDENTIALS}; start `make dev` first, or set FLIGHTDECK_API and "
                "FLIGHTDECK_ADMIN_TOKEN",
                file=sys.stderr,
            )
            return 2
        api, token = creds["api_base"], creds["admin_token"]
    headers = {"authorization": f"Bearer {token}"}
    if tenant := os.environ.get("FLIGHTDECK_TENANT"):
        headers["flightdeck-tenant"] = tenant
    try:
        answer = httpx.post(f"{api}/v1/knowledge/reembed", headers=headers, timeout=120)
    except httpx.HTTPError as exc:
        print(f"reembed: {api} cannot be reached ({exc}); is `make dev` running?", file=sys.stderr)
        return 2
    if answer.status_code != 200:
        print(f"reembed: HTTP {answer.status_code}: {answer.text}", file=sys.stderr)
        return 1
    queued = answer.json()
    for document in queued:
        before = document["embedding_model"] or "not embedded"
        print(f"queued {document['filename']} (was {before})")
    print(f"reembed: {len(queued)} document(s) queued; watch them with GET /v1/documents")
    return 0


if __name__ == "__main__":
    sys.exit(main())
