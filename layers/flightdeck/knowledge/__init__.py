"""Documents to knowledge: text out of an uploaded file (`extract`), then chunks that fit an
embedding model and say where they came from (`chunk`). Pure functions: storage, embedding and
search live elsewhere. Importing this package is cheap; `pypdf` loads on the first PDF."""

from flightdeck.knowledge.chunking import Chunk, chunk, content_hash, estimate_tokens
from flightdeck.knowledge.extract import (
    SUPPORTED_CONTENT_TYPES,
    Extracted,
    UnreadableDocumentError,
    UnsupportedDocumentError,
    detect_content_type,
    extract,
)

__all__ = [
    "SUPPORTED_CONTENT_TYPES",
    "Chunk",
    "Extracted",
    "UnreadableDocumentError",
    "UnsupportedDocumentError",
    "chunk",
    "content_hash",
    "detect_content_type",
    "estimate_tokens",
    "extract",
]
