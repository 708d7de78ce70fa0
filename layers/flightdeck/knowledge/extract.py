"""Plain text out of an uploaded document, with its structure kept where the format has one.

Headings come out as Markdown ATX headings (`## Refund window`) whatever the source format, so
the chunker (`flightdeck.knowledge.chunking`) finds sections the same way in every document.
Paragraphs are separated by a blank line. CSV rows come out one per paragraph, each as
`header: value; header: value`, so a row read alone still says what its values are.

Pure: no database, no AWS, no network. `pypdf` is imported inside the PDF branch only, so code
that merely checks a type (the API, at upload) never pays for it.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePath
from typing import Any

from flightdeck.errors import InvalidInputError, UnsupportedMediaTypeError

PLAIN = "text/plain"
MARKDOWN = "text/markdown"
HTML = "text/html"
CSV = "text/csv"
PDF = "application/pdf"
SUPPORTED_CONTENT_TYPES: tuple[str, ...] = (PLAIN, MARKDOWN, HTML, CSV, PDF)

EXTENSIONS: dict[str, str] = {
    ".txt": PLAIN,
    ".text": PLAIN,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".html": HTML,
    ".htm": HTML,
    ".csv": CSV,
    ".pdf": PDF,
}
# Other names clients and operating systems give the same formats.
_ALIASES: dict[str, str] = {
    "text/x-markdown": MARKDOWN,
    "application/xhtml+xml": HTML,
    "application/csv": CSV,
    "text/comma-separated-values": CSV,
    "application/x-pdf": PDF,
}
# Types that say nothing about the content: the file name decides. Windows browsers send
# `application/vnd.ms-excel` for every .csv file; S3 defaults to `binary/octet-stream`.
_GENERIC = frozenset(
    {"", PLAIN, "application/octet-stream", "binary/octet-stream", "application/vnd.ms-excel"}
)


class UnsupportedDocumentError(UnsupportedMediaTypeError):
    """The document is of a type the platform cannot read (HTTP 415)."""

    title = "Unsupported document type"


class UnreadableDocumentError(InvalidInputError):
    """The document is of a supported type but holds no text we can read.

    `reason` is a sentence for a person ("the PDF could not be read: …"): ingestion stores it
    on the failed document as it is.
    """

    title = "Unreadable document"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Extracted:
    """A document's text, ready for `chunk`.

    `content_type` is one of `SUPPORTED_CONTENT_TYPES`. `pages` holds each page's text for a
    PDF (page n is `pages[n - 1]`; `text` is the pages joined by blank lines) and is empty for
    the other formats.
    """

    text: str
    title: str
    content_type: str
    pages: tuple[str, ...] = ()


def detect_content_type(filename: str, content_type: str | None, data: bytes = b"") -> str:
    """The normalised type of a document, from its declared type, its name and (for PDF, whose
    signature is unmistakable) its first bytes.

    A specific declared type wins over the extension; a generic one (`text/plain`,
    `application/octet-stream`, none) defers to the extension. Raises
    `UnsupportedDocumentError` when neither names a supported type.
    """
    if data[:1024].lstrip().startswith(b"%PDF-"):
        return PDF
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    declared = _ALIASES.get(declared, declared)
    if declared in SUPPORTED_CONTENT_TYPES and declared != PLAIN:
        return declared
    extension = PurePath(filename).suffix.lower()
    if declared in _GENERIC:
        if extension in EXTENSIONS:
            return EXTENSIONS[extension]
        if declared == PLAIN:
            return PLAIN
    kind = declared if declared not in _GENERIC else (extension or "a file without extension")
    raise UnsupportedDocumentError(
        f"documents of type {kind} cannot be read; "
        f"supported: {', '.join(SUPPORTED_CONTENT_TYPES)} "
        f"({', '.join(sorted(EXTENSIONS))})"
    )


def extract(data: bytes, *, filename: str, content_type: str | None) -> Extracted:
    """Read a document's text. Raises `UnsupportedDocumentError` for a type the platform cannot
    read, `UnreadableDocumentError` (with a reason for a person) for one that holds no text."""
    kind = detect_content_type(filename, content_type, data)
    if not data.strip():
        raise UnreadableDocumentError("the file is empty")
    stem = PurePath(filename).stem or filename or "untitled"
    pages: tuple[str, ...] = ()
    if kind == PDF:
        pages, meta_title = _pdf_pages(data)
        text = "\n\n".join(page for page in pages if page)
        title = meta_title or _first_heading(text) or stem
    else:
        decoded = _decode(data, _charset(content_type))
        if kind == HTML:
            text, html_title = _html_text(decoded)
            title = html_title or _first_heading(text) or stem
        elif kind == CSV:
            text, title = _csv_text(decoded), stem
        elif kind == MARKDOWN:
            text = decoded
            title = _first_heading(text) or stem
        else:
            text, title = decoded, stem
    text = _tidy(text)
    if not text:
        raise UnreadableDocumentError(
            "the PDF holds no text (a scanned image needs OCR, which is not supported)"
            if kind == PDF
            else "the file holds no text"
        )
    return Extracted(text=text, title=_clean_line(title), content_type=kind, pages=pages)


# --- text ------------------------------------------------------------------------------------


def _charset(content_type: str | None) -> str | None:
    match = re.search(r";\s*charset\s*=\s*\"?([\w.:-]+)", content_type or "", re.IGNORECASE)
    if not match:
        return None
    try:
        return codecs.lookup(match.group(1)).name
    except LookupError:
        return None


def _decode(data: bytes, charset: str | None = None) -> str:
    """UTF-8 (a BOM is dropped), UTF-16 when its BOM says so, the declared charset, and only
    then Windows-1252 — what "Latin-1" means in practice (HTML's rule too): it keeps curly
    quotes and dashes that ISO 8859-1 would turn into control characters."""
    if data.startswith(codecs.BOM_UTF8):
        return _checked(data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace"))
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _checked(data.decode("utf-16", errors="replace"))
    for encoding in (charset, "utf-8"):
        if encoding:
            try:
                return _checked(data.decode(encoding))
            except UnicodeDecodeError:
                pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined
        text = data.decode("latin-1")
    return _checked(text)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def _checked(text: str) -> str:
    """Refuse bytes that decode but are not text (an image or archive renamed .txt)."""
    if "\x00" in text or len(_CONTROL.findall(text[:65536])) > 0.05 * min(len(text), 65536):
        raise UnreadableDocumentError("the file is not text: it holds binary data")
    return text


def _tidy(text: str) -> str:
    """One newline convention, NFC, no control characters, no trailing spaces, at most one
    blank line in a row."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text.replace("\f", "\n\n").replace("\v", "\n"))
    text = text.replace("\u00a0", " ").replace("\u200b", "")
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n").strip()


def _clean_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")


def _first_heading(text: str) -> str | None:
    in_fence = False
    for line in text.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        match = None if in_fence else _ATX.match(line)
        if match:
            return match.group(2).strip()
    return None


# --- CSV -------------------------------------------------------------------------------------


def _csv_text(text: str) -> str:
    """Each row as `header: value; header: value`, one row per paragraph. The first row is
    taken as the header; a column without a name is called "column N"; empty cells are left
    out."""
    sample = text[:8192]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text), dialect)]
    except csv.Error as exc:
        raise UnreadableDocumentError(f"the CSV file could not be read: {exc}") from exc
    rows = [row for row in rows if any(row)]
    if not rows:
        return ""
    header = rows[0]
    if len(rows) == 1:
        return "; ".join(cell for cell in header if cell)

    def name(i: int) -> str:
        return header[i] if i < len(header) and header[i] else f"column {i + 1}"

    lines = ["; ".join(f"{name(i)}: {cell}" for i, cell in enumerate(row) if cell) for row in rows]
    return "\n\n".join(lines[1:])


# --- HTML ------------------------------------------------------------------------------------

# Not content: never read, nor anything inside them.
_SKIPPED = frozenset({"script", "style", "nav", "noscript", "template", "svg", "iframe"})
_BLOCKS = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote",
        "ul", "ol", "dl", "dt", "dd", "figure", "figcaption", "form", "fieldset", "address",
        "details", "summary", "hr", "pre", "body", "html",
    }
)  # fmt: skip
_VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "wbr", "area", "base", "col"})


@dataclass
class _Table:
    rows: list[list[tuple[str, bool]]]  # each cell: (text, is a header cell)
    cell: list[str] | None = None  # the open cell's text
    cell_is_header: bool = False

    def end_cell(self) -> None:
        if self.cell is not None:
            if not self.rows:
                self.rows.append([])
            self.rows[-1].append((_clean_line("".join(self.cell)), self.cell_is_header))
        self.cell = None


_BR = "\u2028"  # a <br>, told apart from the source's own line breaks (which are spaces)


class _HtmlText(HTMLParser):
    """HTML to Markdown-ish text: headings as `#`, list items as `- `, table rows with a header
    row as `header: value; …` (as CSV rows), everything else as paragraphs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.title: str | None = None
        self._inline: list[str] = []
        self._skip: list[str] = []  # the skipped elements open around the cursor
        self._in_title = False
        self._title_parts: list[str] = []
        self._heading: int | None = None
        self._pre = 0
        self._tables: list[_Table] = []
        self.items: set[int] = set()  # indexes of the blocks that are list items
        self._item_open = False

    def _cell(self) -> list[str] | None:
        return self._tables[-1].cell if self._tables else None

    def _sink(self) -> list[str]:
        cell = self._cell()
        return cell if cell is not None else self._inline

    def _flush(self) -> None:
        raw = "".join(self._inline)
        self._inline = []
        item, self._item_open = self._item_open, False
        if self._pre:
            text = raw.replace(_BR, "\n").strip("\n")
        else:
            text = "\n".join(line for part in raw.split(_BR) if (line := _clean_line(part)))
        if not text.strip():
            return
        if self._heading is not None:
            self.blocks.append(f"{'#' * self._heading} {_clean_line(text)}")
        else:
            if item:
                self.items.add(len(self.blocks))
            self.blocks.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and self.title is None and "svg" not in self._skip:
            self._in_title = True
            return
        if tag in _SKIPPED or any(name == "hidden" for name, _ in attrs):
            if tag not in _VOID:
                self._skip.append(tag)
            return
        if self._skip:
            return
        in_cell = self._cell() is not None
        if tag == "br":
            self._sink().append(" " if in_cell else _BR)
        elif tag == "table":
            self._flush()
            self._tables.append(_Table(rows=[]))
        elif tag == "tr" and self._tables:
            self._tables[-1].end_cell()
            self._tables[-1].rows.append([])
        elif tag in ("td", "th") and self._tables:
            table = self._tables[-1]
            table.end_cell()
            table.cell, table.cell_is_header = [], tag == "th"
        elif in_cell:
            self._sink().append(" ")
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self._heading = int(tag[1])
        elif tag == "li":
            self._flush()
            self._inline.append("- ")
            self._item_open = True
        elif tag == "pre":
            self._flush()
            self._pre += 1
        elif tag in _BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in_title:
            self.title = _clean_line("".join(self._title_parts)) or None
            self._in_title = False
            return
        if self._skip:
            if tag in self._skip:
                while self._skip and self._skip.pop() != tag:
                    pass
            return
        if tag in ("td", "th") and self._tables:
            self._tables[-1].end_cell()
        elif tag == "table" and self._tables:
            table = self._tables.pop()
            table.end_cell()
            text = _table_text(table.rows)
            outer = self._cell()
            if outer is not None:  # a table inside a cell: its rows become the cell's text
                outer.append(" " + text.replace("\n\n", "; ").replace("\n", "; ") + " ")
            elif text:
                self.blocks.append(text)
        elif self._cell() is not None:
            self._sink().append(" ")
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self._heading = None
        elif tag == "pre":
            self._flush()
            self._pre = max(0, self._pre - 1)
        elif tag in _BLOCKS or tag == "li":
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title_parts.append(data)
        elif not self._skip:
            self._sink().append(data)

    def close(self) -> None:
        super().close()
        while self._tables:
            self.handle_endtag("table")
        self._flush()


def _table_text(rows: list[list[tuple[str, bool]]]) -> str:
    rows = [row for row in rows if any(text for text, _ in row)]
    if not rows:
        return ""
    if len(rows) > 1 and all(is_header for _, is_header in rows[0]):
        header = [text for text, _ in rows[0]]

        def name(i: int) -> str:
            return header[i] if i < len(header) and header[i] else f"column {i + 1}"

        lines = ["; ".join(f"{name(i)}: {t}" for i, (t, _) in enumerate(row) if t) for row in rows]
        return "\n\n".join(lines[1:])
    return "\n".join(" | ".join(text for text, _ in row) for row in rows)


def _html_text(markup: str) -> tuple[str, str | None]:
    parser = _HtmlText()
    parser.feed(markup)
    parser.close()
    parts = []
    for i, block in enumerate(parser.blocks):
        if i:  # the items of a list stay together, one per line
            parts.append("\n" if {i - 1, i} <= parser.items else "\n\n")
        parts.append(block)
    return "".join(parts), parser.title


# --- PDF -------------------------------------------------------------------------------------


@dataclass
class _Line:
    text: str
    size: float | None = None  # the largest effective font size on the line
    y: float | None = None  # baseline of its first glyphs, in page space


def _matrix_product(a: Sequence[float], b: Sequence[float]) -> tuple[float, ...]:
    return (
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
        a[4] * b[0] + a[5] * b[2] + b[4],
        a[4] * b[1] + a[5] * b[3] + b[5],
    )


def _pdf_lines(page: Any) -> list[_Line]:
    """pypdf's own text for the page, cut into lines, each with its font size and baseline.

    The visitor sees exactly the pieces `extract_text` joins, so the text is pypdf's and only
    the geometry is ours.
    """
    lines = [_Line("")]

    def visit(text: str, cm: Any, tm: Any, font: Any, font_size: float) -> None:
        parts = text.split("\n")
        for i, part in enumerate(parts):
            if i:
                lines.append(_Line(""))
            line = lines[-1]
            line.text += part
            if part.strip():
                m = _matrix_product(tm, cm)
                size = abs(font_size) * math.hypot(m[2], m[3])
                line.size = size if line.size is None else max(line.size, size)
                if line.y is None:
                    line.y = m[5]

    visitor: Callable[..., None] = visit
    page.extract_text(visitor_text=visitor)
    return [line for line in lines if line.text.strip()]


def _body_size(lines: list[_Line]) -> float | None:
    """The font size most of the characters are set in."""
    weights: dict[float, int] = {}
    for line in lines:
        if line.size:
            key = round(line.size * 2) / 2
            weights[key] = weights.get(key, 0) + len(line.text.strip())
    return max(weights, key=lambda size: (weights[size], -size)) if weights else None


def _is_heading(line: _Line, body: float | None) -> bool:
    text = line.text.strip()
    return bool(
        body
        and line.size
        and line.size >= body * 1.15
        and len(text) <= 120
        and re.search(r"[^\W\d_]", text)
        and not text.endswith((".", ",", ";"))
    )


def _layout(lines: list[_Line], body: float | None, levels: dict[float, int]) -> str:
    """Headings (set larger than the body text) as `#` lines; wrapped lines joined into
    paragraphs; a paragraph break where the gap between baselines is larger than a line's."""
    blocks: list[str] = []
    paragraph: list[str] = []
    previous: _Line | None = None

    def end_paragraph() -> None:
        if paragraph:
            blocks.append(" ".join(paragraph))
            paragraph.clear()

    for line in lines:
        text = _clean_line(line.text)
        if _is_heading(line, body):
            end_paragraph()
            level = levels.get(round((line.size or 0) * 2) / 2, 6)
            blocks.append(f"{'#' * level} {text}")
            previous = None
            continue
        if previous is not None and previous.y is not None and line.y is not None:
            gap = previous.y - line.y
            size = line.size or body or 0
            if gap < 0 or (size and gap > 1.6 * size):
                end_paragraph()
        if paragraph and paragraph[-1].endswith("-") and text[:1].islower():
            paragraph[-1] += text  # a word hyphenated across lines
        else:
            paragraph.append(text)
        previous = line
    end_paragraph()
    return "\n\n".join(blocks)


def _pdf_pages(data: bytes) -> tuple[tuple[str, ...], str | None]:
    import pypdf  # lazy: only ingestion reads PDFs, never the API

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocumentError("the PDF is protected by a password")
        per_page = [_pdf_lines(page) for page in reader.pages]
        metadata = reader.metadata
        meta_title = metadata.title if metadata is not None else None
    except UnreadableDocumentError:
        raise
    # A parser fed arbitrary bytes fails in arbitrary ways (its own errors, but also
    # ValueError, KeyError, zlib.error...): whatever it is, the file is unreadable, not a 500.
    except Exception as exc:
        reason = str(exc).strip() or type(exc).__name__
        raise UnreadableDocumentError(f"the PDF could not be read: {reason}") from exc
    if not per_page:
        raise UnreadableDocumentError("the PDF has no pages")
    all_lines = [line for lines in per_page for line in lines]
    body = _body_size(all_lines)
    heading_sizes = sorted(
        {round((line.size or 0) * 2) / 2 for line in all_lines if _is_heading(line, body)},
        reverse=True,
    )
    levels = {size: min(i + 1, 6) for i, size in enumerate(heading_sizes)}
    pages = tuple(
        unicodedata.normalize("NFKC", _tidy(_layout(lines, body, levels))) for lines in per_page
    )
    title = _clean_line(str(meta_title)) if meta_title else None
    if title and not re.search(r"[^\W\d_]", title):
        title = None
    return pages, title
