"""Connections to Postgres. Nothing here runs at import time."""

from __future__ import annotations

import json
import select
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from flightdeck.errors import DatabaseUnavailableError
from flightdeck.settings import Settings

Connection = psycopg.Connection[DictRow]

# LangGraph's checkpointer needs autocommit connections with dict rows; the stores wrap their
# work in explicit transactions (`with conn.transaction()`), so one kind of connection serves all.
CONNECTION_KWARGS: dict[str, Any] = {
    "autocommit": True,
    "row_factory": dict_row,
    "prepare_threshold": None,
}


# psycopg caches how it rewrites a statement's `%s` placeholders only for statements of at most
# 50 parameters (`psycopg._queries.MAX_CACHED_STATEMENT_PARAMS`); above that it parses the text
# again on every call, ~0.1 ms for the node runner's closing statement.
_CACHED_PARAMS = 50


def execute_wide(conn: Connection, query: str, params: Sequence[Any]) -> psycopg.Cursor[DictRow]:
    """`conn.execute(query, params)` for a statement that may have more parameters than
    psycopg caches its parsing for: the `%s` placeholders are numbered here (`$1`, `$2`, ...)
    and sent as they are. `query` has positional `%s` placeholders only and no `%%`."""
    if len(params) <= _CACHED_PARAMS:
        return conn.execute(query, params)
    parts = query.split("%s")
    if len(parts) - 1 != len(params) or "%%" in query:
        raise ValueError(f"{len(parts) - 1} placeholders for {len(params)} parameters")
    numbered = "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]
    return psycopg.RawCursor(conn).execute(numbered, params)


def resolve_database_url(settings: Settings, secrets_client: Any = None) -> str:
    """The libpq URL: given directly, or built from an RDS secret in Secrets Manager."""
    if settings.database_url:
        return settings.database_url
    if secrets_client is None:
        import boto3

        secrets_client = boto3.client(
            "secretsmanager",
            region_name=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
        )
    secret = json.loads(
        secrets_client.get_secret_value(SecretId=settings.database_secret_arn)["SecretString"]
    )
    user = quote(secret["username"], safe="")
    password = quote(secret["password"], safe="")
    host = settings.database_host or secret["host"]
    return (
        f"postgresql://{user}:{password}@{host}:{secret.get('port', 5432)}/"
        f"{secret.get('dbname', 'flightdeck')}?sslmode=require"
    )


def connect(url: str, *, role: str | None = None) -> Connection:
    """A connection; with `role`, working as that role (as the application's pool does)."""
    conn = psycopg.connect(url, **CONNECTION_KWARGS)
    if role:
        _set_role(conn, role)
    return conn


def _set_role(conn: Connection, role: str) -> None:
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))


def check_connection(conn: Connection) -> None:
    """Raise if a pooled connection is dead, before it is handed out (the pool then discards
    it and hands out another).

    An idle connection has nothing to read unless the server wrote to it, and what a server
    writes to an idle connection is almost always that it is closing it (terminated, restarted,
    failed over, idle too long): only then is a round trip spent to find out, so handing out a
    healthy connection costs no round trip at all."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    poll = select.poll()
    poll.register(conn.fileno(), select.POLLIN)
    if poll.poll(0):
        conn.execute("")


class Pool(ConnectionPool[Connection]):
    """The application's pool: a connection lost while in use, or none free within the pool's
    wait, surfaces as `DatabaseUnavailableError`, which the API answers with a retryable 503
    and the state machines retry. The failed transaction is rolled back by Postgres and the
    broken connection is replaced, so trying again is safe and finds a working connection."""

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Connection]:
        try:
            with super().connection(timeout) as conn:
                yield conn
        except psycopg.OperationalError as exc:
            # Pool timeouts, lost connections (AdminShutdown, "server closed the connection"),
            # and what Postgres itself says to retry (serialization failures, deadlocks, too
            # many clients) are all OperationalError.
            raise DatabaseUnavailableError(
                f"the database is unavailable ({type(exc).__name__}); try again shortly"
            ) from exc


def make_pool(
    url: str,
    *,
    role: str | None,
    max_size: int = 10,
    timeout: float = 5.0,
    name: str = "flightdeck",
) -> Pool:
    """The application's pool. Every connection works as `role` (a non-owner without
    BYPASSRLS), so row-level security applies to everything the application runs. A request
    waits at most `timeout` seconds for a connection, then fails as unavailable (503), rather
    than queueing behind a saturated pool until its client gives up. Connections carry `name`
    as their `application_name` (what `pg_stat_activity` shows)."""
    return Pool(
        url,
        min_size=1,
        max_size=max_size,
        timeout=timeout,
        kwargs={**CONNECTION_KWARGS, "application_name": name},
        configure=(lambda conn: _set_role(conn, role)) if role else None,
        check=check_connection,
        open=True,
        name=name,
    )


@contextmanager
def scoped(conn: Connection, *tenant_ids: uuid.UUID | str) -> Iterator[Connection]:
    """A transaction that sees (and may write) the rows of `tenant_ids` only.

    The tenants are set with SET LOCAL semantics: they end with the transaction, so a pooled
    connection never carries one tenant into another's work.
    """
    with conn.transaction():
        conn.execute(
            "SELECT set_config('app.tenant_ids', %s, true)",
            (",".join(str(t) for t in tenant_ids),),
        )
        yield conn
