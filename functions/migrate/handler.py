"""Applies the schema migrations, then moves plaintext signing secrets into Secrets Manager;
run by a CDK trigger at deploy, after the database exists."""

from typing import Any

from flightdeck.observability import lambda_handler
from flightdeck.services import services
from flightdeck.settings import get_settings
from flightdeck.store.db import connect, resolve_database_url
from flightdeck.store.migrate import migrate
from flightdeck.store.secrets_move import move_secrets


@lambda_handler(correlation_id_path=None)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with connect(resolve_database_url(get_settings())) as conn:
        applied = migrate(conn)
        moved = move_secrets(conn, services().secrets)
    return {"applied": applied, "secrets_moved": moved.total}
