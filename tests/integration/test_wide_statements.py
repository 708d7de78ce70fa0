"""Statements with more parameters than psycopg caches its parsing for, sent numbered
(`flightdeck.store.db.execute_wide`): the node runner's closing statement is one."""

from __future__ import annotations

from typing import Any

import pytest

from flightdeck.store.db import execute_wide


def test_a_wide_statement_binds_every_parameter_in_order(conn: Any) -> None:
    values = list(range(120))
    query = "SELECT ARRAY[" + ", ".join(["%s::int"] * len(values)) + "] AS got"

    row = execute_wide(conn, query, values).fetchone()

    assert row["got"] == values


def test_a_narrow_statement_goes_through_psycopg_as_usual(conn: Any) -> None:
    assert execute_wide(conn, "SELECT %s::text AS a, %s::int AS b", ["x", 2]).fetchone() == {
        "a": "x",
        "b": 2,
    }


def test_a_wide_statement_inside_a_pipeline_is_sent_with_the_others(conn: Any) -> None:
    values = list(range(60))
    with conn.pipeline():
        first = conn.execute("SELECT 1 AS one")
        wide = execute_wide(conn, "SELECT " + " + ".join(["%s::int"] * 60) + " AS total", values)
    assert first.fetchone() == {"one": 1}
    assert wide.fetchone() == {"total": sum(values)}


@pytest.mark.parametrize(
    "query",
    [
        "SELECT " + ", ".join(["%s"] * 59),  # one placeholder short
        "SELECT '100%%', " + ", ".join(["%s"] * 60),  # an escaped percent sign
    ],
)
def test_placeholders_that_do_not_match_the_parameters_are_refused(conn: Any, query: str) -> None:
    with pytest.raises(ValueError, match="placeholders for 60 parameters"):
        execute_wide(conn, query, list(range(60)))
