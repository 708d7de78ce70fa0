"""A Postgres wire proxy that counts round trips: how often a client waited for the server.

The proxy sits between psycopg and the embedded server's Unix socket and forwards bytes both
ways. A round trip is counted each time the client sends after the server has answered: a plain
statement is one, a pipeline of several statements is one per sync (or per result fetched in
the middle of it), a transaction's BEGIN and COMMIT are one each unless they travel in a
pipeline. Postgres answers only at a statement's end, a pipeline sync or a flush request, so
the count does not depend on timing. Open connections before counting: connecting is a few
round trips of its own. Used by the tests and the benchmarks to show what a code
path costs in waits on the database (a count, never a time).
"""

from __future__ import annotations

import os
import selectors
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


class RoundTripProxy:
    """Forwards connections made to `url` (its `host=` socket directory replaced) to the
    server of `server_url`, counting round trips over all of them."""

    def __init__(self, server_url: str) -> None:
        parts = urlsplit(server_url)
        query = dict(parse_qsl(parts.query))
        port = parts.port or int(query.get("port", 5432))
        self._server_socket = str(Path(query["host"]) / f".s.PGSQL.{port}")
        self._dir = tempfile.mkdtemp(prefix="fd-rt-")
        self._listen_path = str(Path(self._dir) / f".s.PGSQL.{port}")
        self.url = urlunsplit(parts._replace(query=urlencode({**query, "host": self._dir})))
        self._lock = threading.Lock()
        self._round_trips = 0
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self._listen_path)
        self._listener.listen(16)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True, name="rt-proxy")
        self._thread.start()

    @property
    def round_trips(self) -> int:
        with self._lock:
            return self._round_trips

    @contextmanager
    def counting(self) -> Iterator[list[int]]:
        """Yields a one-item list that holds, after the block, the round trips made in it."""
        found = [0]
        before = self.round_trips
        try:
            yield found
        finally:
            found[0] = self.round_trips - before

    def close(self) -> None:
        self._stopped.set()
        self._listener.close()
        self._thread.join(timeout=5)
        try:
            os.unlink(self._listen_path)
            os.rmdir(self._dir)
        except OSError:
            pass

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.connect(self._server_socket)
            threading.Thread(
                target=self._forward, args=(client, server), daemon=True, name="rt-conn"
            ).start()

    def _forward(self, client: socket.socket, server: socket.socket) -> None:
        """One thread per connection sees both directions in order: a client send that
        follows a server answer is a new round trip."""
        answered = False
        with selectors.DefaultSelector() as sel, client, server:
            sel.register(client, selectors.EVENT_READ, server)
            sel.register(server, selectors.EVENT_READ, client)
            while True:
                for key, _ in sel.select():
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = source.recv(65536)
                    if not data:
                        return
                    if source is client:
                        if answered:
                            with self._lock:
                                self._round_trips += 1
                        answered = False
                    else:
                        answered = True
                    key.data.sendall(data)
