"""A knowledge document landed in S3 (EventBridge "Object Created"): ingest it.

EventBridge delivers at least once; ingestion is idempotent (same content, same model: no-op).
A failure to read the file leaves the document `failed` with the reason and returns normally;
anything else (the embedding provider throttled, the database away) raises, so the event's
retry policy tries again.
"""

from typing import Any

from flightdeck.errors import NotFoundError
from flightdeck.observability import lambda_handler, logger
from flightdeck.services import services


def objects(event: dict[str, Any]) -> list[tuple[str, str]]:
    """(bucket, key) of every object the event names: EventBridge, or S3's own notification."""
    if "detail" in event:
        detail = event["detail"]
        return [(detail["bucket"]["name"], detail["object"]["key"])]
    return [(r["s3"]["bucket"]["name"], r["s3"]["object"]["key"]) for r in event.get("Records", [])]


@lambda_handler(correlation_id_path="id")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    ingested = []
    for bucket, key in objects(event):
        try:
            document = services().knowledge.ingest(bucket, key)
        except NotFoundError as exc:
            # Deleted before its event arrived, or not a document: nothing to retry.
            logger.info("nothing to ingest", extra={"key": key, "reason": str(exc)})
            ingested.append({"key": key, "status": "skipped"})
            continue
        ingested.append({"document_id": str(document.id), "status": document.status})
    return {"documents": ingested}
