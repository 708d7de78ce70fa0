"""Applies the schema migrations, then moves plaintext signing secrets into Secrets Manager;
run by a CDK trigger at deploy, after the database exists."""

from typing import Any

from flightdeck.engine.seal_triggers import seal_all
from flightdeck.observability import lambda_handler
from flightdeck.services import services
from flightdeck.settings import get_settings
from flightdeck.store.db import connect, resolve_database_url
from flightdeck.store.migrate import migrate
from flightdeck.store.secrets_move import move_secrets

# Sealing stops starting batches after this, inside the function's five-minute timeout.
SEAL_BUDGET_SECONDS = 240.0


@lambda_handler(correlation_id_path=None)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with connect(resolve_database_url(get_settings())) as conn:
        applied = migrate(conn)
        moved = move_secrets(conn, services().secrets)
    answer: dict[str, Any] = {"applied": applied, "secrets_moved": moved.total}
    if event.get("seal_triggers"):
        # The one-off move of plaintext triggers to sealed ones (flightdeck.engine.seal_triggers):
        # invoked by hand, repeated until nothing is left.
        report = seal_all(services(), budget_seconds=SEAL_BUDGET_SECONDS)
        answer.update(triggers_sealed=report.sealed, triggers_left=report.left)
    return answer
