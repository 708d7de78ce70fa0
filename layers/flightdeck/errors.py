"""Domain errors. The API maps them to problem details in one place (`flightdeck.api.problems`);
the state machines match Lambda errors by class name, so names here are part of the contract."""

from __future__ import annotations


class FlightdeckError(Exception):
    """Base of every error the platform raises on purpose."""

    status = 500
    title = "Internal error"


class TransientError(FlightdeckError):
    """A failure worth retrying (a flaky dependency, a timeout).

    Step Functions retries Tasks that fail with this error name, with backoff and jitter, so a
    node signals "try me again" simply by raising it.
    """

    title = "Transient failure"


class DatabaseUnavailableError(TransientError):
    """The database could not serve the request: the connection was lost (terminated, failed
    over, restarted), no pooled connection came free within the pool's wait, or Postgres asked
    for a retry (serialization failure, deadlock, too many clients).

    Nothing the failed transaction wrote is kept, so trying again is always safe: the API
    answers 503 with `Retry-After`, and the state machines retry a Task that fails with it.
    """

    status = 503
    title = "Service unavailable"
    retry_after_seconds = 1


class NodeMismatchError(FlightdeckError):
    """Step Functions asked for a node that LangGraph does not have next: never retried."""

    title = "Node mismatch"


class NotFoundError(FlightdeckError):
    status = 404
    title = "Not found"


class ConflictError(FlightdeckError):
    status = 409
    title = "Conflict"


class GoneError(FlightdeckError):
    status = 410
    title = "Gone"


class InvalidInputError(FlightdeckError):
    status = 422
    title = "Invalid input"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


class PayloadTooLargeError(FlightdeckError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaTypeError(FlightdeckError):
    status = 415
    title = "Unsupported media type"


class UnauthorizedError(FlightdeckError):
    status = 401
    title = "Unauthorized"


class ForbiddenError(FlightdeckError):
    status = 403
    title = "Forbidden"


class WorkflowDefinitionError(FlightdeckError):
    """A workflow cannot be compiled or registered as written."""

    title = "Invalid workflow definition"
