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
