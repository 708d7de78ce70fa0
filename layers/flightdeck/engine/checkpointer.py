"""LangGraph's Postgres checkpointer, made to cost one read and no write round trip per step.

The node runner reads a run's latest checkpoint in the same round trip as the run's row
(`prefetch` queues the very query `PostgresSaver.get_tuple` runs, kept in a function by
migration 0026; `adopt` takes its row), so
neither the runner's look at the thread nor LangGraph's own load goes back to the database.
While a step is open (`hold`), LangGraph's writes (`put`, `put_writes`) are kept as the
statements `PostgresSaver` would have run, and `release` sends them in the step's closing
batch, beside the run's events and status, in the same transaction. The rows are exactly
LangGraph's (its statements, its serializer), so its tooling reads the threads as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from langgraph.checkpoint.base import CheckpointTuple
from langgraph.checkpoint.postgres import PostgresSaver
from psycopg import Cursor
from psycopg.rows import DictRow

from flightdeck.store.db import Connection

# `PostgresSaver.get_tuple`'s query for the latest checkpoint, in a function whose plan the
# connection keeps (migration 0026): as a statement it was planned anew at every step.
_PREFETCH = "SELECT * FROM flightdeck_latest_checkpoint(%s, %s)"
_Statement = tuple[str, Any, bool]  # (query, parameters, executemany)


class _Recorder:
    """Stands in for the cursor `PostgresSaver` writes through: keeps the statements."""

    def __init__(self, held: list[_Statement]) -> None:
        self._held = held

    def execute(self, query: str, params: Any = None, **_: Any) -> None:
        self._held.append((query, params, False))

    def executemany(self, query: str, params_seq: Any, **_: Any) -> None:
        self._held.append((query, list(params_seq), True))


class StepSaver(PostgresSaver):
    """`PostgresSaver` with the thread's latest checkpoint read once per step and its writes
    held until the step's closing batch. Outside a step it is `PostgresSaver`."""

    def __init__(self, conn: Connection, serde: Any = None) -> None:
        super().__init__(conn, serde=serde)
        self._held: list[_Statement] | None = None
        # (thread id, namespace) -> its latest checkpoint as read at the step's start.
        self._latest: dict[tuple[str, str], CheckpointTuple | None] = {}

    @staticmethod
    def prefetch(conn: Connection, thread_id: str, checkpoint_ns: str = "") -> Cursor[DictRow]:
        """Queue the latest-checkpoint query (in the caller's pipeline); hand its row to
        `adopt` once the pipeline has synced."""
        cur = conn.cursor(binary=True)
        cur.execute(_PREFETCH, (thread_id, checkpoint_ns))
        return cur

    def adopt(self, thread_id: str, row: DictRow | None, checkpoint_ns: str = "") -> None:
        """The prefetched row answers `get_tuple` for the thread's latest checkpoint until
        something is written. Call with the cipher in use for the run's tenant."""
        if row is not None and row["checkpoint"]["v"] < 4 and row["parent_checkpoint_id"]:
            return  # written by an old LangGraph: `get_tuple` migrates its pending sends
        self._latest[(thread_id, checkpoint_ns)] = (
            None if row is None else self._load_checkpoint_tuple(row)
        )

    def get_tuple(self, config: Any) -> CheckpointTuple | None:
        configurable = config["configurable"]
        key = (str(configurable["thread_id"]), configurable.get("checkpoint_ns", ""))
        if not configurable.get("checkpoint_id") and key in self._latest:
            return self._latest[key]
        return super().get_tuple(config)

    def put(self, *args: Any, **kwargs: Any) -> Any:
        self._latest.clear()
        return super().put(*args, **kwargs)

    def put_writes(self, *args: Any, **kwargs: Any) -> None:
        self._latest.clear()
        super().put_writes(*args, **kwargs)

    def delete_thread(self, thread_id: str) -> None:
        self._latest.clear()
        super().delete_thread(thread_id)

    def hold(self) -> None:
        """From now on keep LangGraph's writes for `release`."""
        self._held = []

    def release(self, conn: Connection) -> int:
        """Send the held writes (in the caller's pipeline and transaction); returns how many
        statements. The saver is plain `PostgresSaver` again."""
        held, self._held = self._held or [], None
        self._latest.clear()
        for query, params, many in held:
            cur = conn.cursor(binary=True)
            if many:
                cur.executemany(query, params)
            else:
                cur.execute(query, params)
        return len(held)

    def forget(self) -> None:
        """Drop what the step held and read (it failed: its transaction rolls back)."""
        self._held = None
        self._latest.clear()

    @contextmanager
    def _cursor(self, *, pipeline: bool = False) -> Iterator[Any]:
        if self._held is not None:
            if pipeline:  # a write: `put`, `put_writes`, `delete_thread`
                with self.lock:
                    yield _Recorder(self._held)
                return
            # A read while writes are held (a subgraph's state, say): it must see them.
            self._write_held()
        with super()._cursor(pipeline=pipeline) as cur:
            yield cur

    def _write_held(self) -> None:
        held: Sequence[_Statement] = self._held or []
        self._held = []
        with self.lock, self.conn.cursor(binary=True) as cur:  # type: ignore[union-attr]
            for query, params, many in held:
                if many:
                    cur.executemany(query, params)
                else:
                    cur.execute(query, params)
