"""Each invocation's log lines carry its own Lambda context and correlation id, also when
several invocations run at once in one process (`make dev` runs every function in its
threads), and none carries them once its invocation returned."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flightdeck.observability import lambda_handler, logger
from tests.conftest import lambda_context


@contextmanager
def captured() -> Iterator[list[dict[str, Any]]]:
    """The JSON log lines the project's logger writes inside the block (filled at its end)."""
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)  # type: ignore[attr-defined]
    level = logger.log_level
    logger.setLevel("INFO")
    found: list[dict[str, Any]] = []
    try:
        yield found
    finally:
        logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]
        logger.setLevel(level)
        found.extend(json.loads(x) for x in stream.getvalue().splitlines() if x)


def test_concurrent_invocations_log_their_own_correlation_ids() -> None:
    both_inside = threading.Barrier(2, timeout=10)

    @lambda_handler()
    def handler(event: dict[str, Any], context: Any) -> None:
        logger.info(f"entered {event['run_id']}")
        both_inside.wait()  # the other invocation has set its keys meanwhile
        logger.info(f"leaving {event['run_id']}")
        both_inside.wait()

    contexts = {f"run-{i}": lambda_context(f"fn-{i}") for i in range(2)}
    with captured() as lines:
        threads = [
            threading.Thread(target=handler, args=({"run_id": run}, context))
            for run, context in contexts.items()
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        logger.info("after")

    # Given two invocations logging while both are inside their handler,
    inside = [x for x in lines if x["message"] != "after"]
    assert len(inside) == 4
    # then every line names its own invocation: run id, function and request id.
    for line in inside:
        run = line["message"].split()[1]
        assert line["correlation_id"] == run
        context = contexts[run]
        assert line["function_name"] == context.function_name
        assert line["function_request_id"] == context.aws_request_id
    assert {x["correlation_id"] for x in inside} == set(contexts)
    # And a line logged after they returned carries neither's keys.
    (after,) = [x for x in lines if x["message"] == "after"]
    assert "correlation_id" not in after
    assert "function_request_id" not in after


def test_the_first_invocation_is_the_cold_start_and_the_path_names_the_correlation_id() -> None:
    @lambda_handler(correlation_id_path="requestContext.requestId")
    def handler(event: dict[str, Any], context: Any) -> None:
        logger.info("inside")

    with captured() as lines:
        handler({"requestContext": {"requestId": "req-1"}}, lambda_context())
        handler({"requestContext": {"requestId": "req-2"}}, lambda_context())
    first, second = lines
    assert (first["correlation_id"], second["correlation_id"]) == ("req-1", "req-2")
    # Other tests may have invoked a handler in this process first: the second is warm.
    assert second["cold_start"] is False


def test_an_invocation_inside_another_gives_the_outer_one_its_keys_back() -> None:
    @lambda_handler()
    def inner(event: dict[str, Any], context: Any) -> None:
        logger.info("inner")

    @lambda_handler()
    def outer(event: dict[str, Any], context: Any) -> None:
        logger.info("before")
        inner({"run_id": "run-inner"}, lambda_context("inner"))
        logger.info("after")

    with captured() as lines:
        outer({"run_id": "run-outer"}, lambda_context("outer"))
    assert [(x["message"], x["correlation_id"], x["function_name"]) for x in lines] == [
        ("before", "run-outer", "outer"),
        ("inner", "run-inner", "inner"),
        ("after", "run-outer", "outer"),
    ]
