"""The one-off move of triggers stored in plaintext (before migration 0011, or while no trigger
key was configured) to sealed envelopes, for every tenant.

On AWS, invoke the migrate function with `{"seal_triggers": true}` until it answers
`"triggers_left": 0` (each call seals for up to four minutes); `make dev` does it at every
start. Each batch commits on its own, so an interrupted pass loses nothing and the next one
continues where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flightdeck.store import runs, tenants

if TYPE_CHECKING:
    from flightdeck.services import Services


@dataclass(frozen=True)
class SealReport:
    sealed: int
    left: int


def seal_all(svc: Services, *, budget_seconds: float | None = None) -> SealReport:
    """Seal every tenant's plaintext triggers, stopping between batches once `budget_seconds`
    have passed; `left` counts what remains for the next call."""
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    with svc.connection() as conn, conn.transaction():
        tenant_ids = tenants.all_ids(conn)
    sealed = left = 0
    for tenant_id in tenant_ids:
        sealed += svc.runs.seal_stored_triggers(tenant_id, deadline=deadline)
        with svc.tenant(tenant_id) as conn:
            left += runs.count_plaintext_triggers(conn)
    return SealReport(sealed=sealed, left=left)
