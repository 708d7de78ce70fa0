"""Lambda SnapStart (Python): what a function builds before its snapshot is taken, and what
it forgets after an execution environment is restored from the snapshot.

With SnapStart, Lambda runs a published version's init phase once, snapshots the process and
resumes a copy of that snapshot for every cold start. The snapshot should hold what is slow to
build and safe to share: imported modules, the FastAPI app with its routes and schemas, the
workflow graphs. It must not hold what belongs to one environment: open database connections
(dead after a restore), AWS clients (their credentials and connection pools), the state of
`random` (every restored copy would draw the same numbers, e.g. the same retry jitter).

So each handler module names its warm-up; before the snapshot the warm-up runs, and after every
restore the process-wide services are dropped (`flightdeck.services.reset_services`: the pool is
closed, clients and settings are rebuilt on first use, quickly, since every module they need
is already imported) and `random` is reseeded.

`snapshot_restore_py` is the module the Lambda Python runtime calls the hooks from: the runtime
provides it (the dependency layer does not ship it, so no copy shadows the runtime's registry),
and the development install has the same code from PyPI. Outside Lambda nothing calls the hooks.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from snapshot_restore_py import register_after_restore, register_before_snapshot

_restore_registered = False


def after_restore() -> None:
    """Forget what must not be shared between restored environments."""
    from flightdeck.services import reset_services

    reset_services()
    random.seed()


def prepare(warm_up: Callable[[], object], forget: Callable[[], object] | None = None) -> None:
    """Run `warm_up` before the snapshot is taken, and `after_restore` (and `forget`, the
    handler's own) after each restore.

    `warm_up` must open no connection and call no service: it imports and builds objects
    only, which the snapshot then keeps. `forget` drops what the handler built on the
    services that `after_restore` drops."""
    global _restore_registered
    register_before_snapshot(warm_up)
    if forget is not None:
        register_after_restore(forget)
    if not _restore_registered:
        register_after_restore(after_restore)
        _restore_registered = True
