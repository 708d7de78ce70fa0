"""Connections to Postgres. Nothing here runs at import time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from flightdeck.settings import Settings

Connection = psycopg.Connection[DictRow]

# LangGraph's checkpointer needs autocommit connections with dict rows; the stores wrap their
# work in explicit transactions (`with conn.transaction()`), so one kind of connection serves all.
CONNECTION_KWARGS: dict[str, Any] = {
    "autocommit": True,
    "row_factory": dict_row,
    "prepare_threshold": None,
}


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


def connect(url: str) -> Connection:
    return psycopg.connect(url, **CONNECTION_KWARGS)


def make_pool(url: str, *, max_size: int = 10) -> ConnectionPool[Connection]:
    return ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        kwargs=CONNECTION_KWARGS,
        open=True,
        name="flightdeck",
    )


@contextmanager
def transaction(conn: Connection) -> Iterator[Connection]:
    with conn.transaction():
        yield conn
