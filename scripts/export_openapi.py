"""Write the API's OpenAPI document to docs/openapi.json (`make openapi`).

The committed document is the contract: `tests/unit/test_openapi_contract.py` fails when the
app drifts from it, and the dashboard's client is generated from it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "openapi.json"


def document() -> dict[str, Any]:
    from flightdeck.api.app import create_app

    return create_app().openapi()


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def main() -> int:
    TARGET.write_text(render(document()))
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
