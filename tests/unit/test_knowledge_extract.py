"""Text extraction: every supported type, the structure each keeps, and the clear errors for
files the platform cannot or will not read."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from flightdeck.errors import InvalidInputError, UnsupportedMediaTypeError
from flightdeck.knowledge import (
    Extracted,
    UnreadableDocumentError,
    UnsupportedDocumentError,
    chunk,
    detect_content_type,
    extract,
)
from tests.fixtures.knowledge import returns_policy
from tests.fixtures.knowledge.pdf import Text, document, pages_pdf

ROOT = Path(__file__).resolve().parents[2]
TRIAGE = "flightdeck.workflows.support_triage"


def _unreadable(data: bytes, filename: str, content_type: str | None = None) -> str:
    with pytest.raises(UnreadableDocumentError) as caught:
        extract(data, filename=filename, content_type=content_type)
    return caught.value.reason


# --- type detection -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "content_type", "expected"),
    [
        ("notes.txt", "text/plain", "text/plain"),
        ("notes", "text/plain; charset=utf-8", "text/plain"),
        ("faq.md", None, "text/markdown"),
        ("faq.md", "text/plain", "text/markdown"),  # what many clients send for .md
        ("faq.txt", "text/x-markdown", "text/markdown"),  # a specific declared type wins
        ("help.HTM", "application/octet-stream", "text/html"),
        ("help", "text/html; charset=utf-8", "text/html"),
        ("prices.csv", "application/vnd.ms-excel", "text/csv"),  # Windows browsers
        ("prices.csv", "binary/octet-stream", "text/csv"),  # S3's default
        ("policy.pdf", "", "application/pdf"),
        ("policy", "application/x-pdf", "application/pdf"),
    ],
)
def test_the_type_comes_from_the_declared_type_then_the_extension(
    filename: str, content_type: str | None, expected: str
) -> None:
    assert detect_content_type(filename, content_type) == expected


def test_a_pdf_is_recognised_by_its_signature_whatever_it_is_called() -> None:
    data = document([("paragraph", "Refunds within 30 days.")])
    assert detect_content_type("policy.txt", "text/plain", data) == "application/pdf"
    assert extract(data, filename="policy.txt", content_type="text/plain").text == (
        "Refunds within 30 days."
    )


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        ("photo.png", "image/png"),
        ("photo.txt", "image/png"),  # a declared non-text type is not overruled by a name
        ("report.docx", "application/octet-stream"),
        ("archive.zip", None),
        ("README", None),
    ],
)
def test_unsupported_types_are_refused_with_415(filename: str, content_type: str | None) -> None:
    with pytest.raises(UnsupportedDocumentError) as caught:
        extract(b"PK\x03\x04 whatever", filename=filename, content_type=content_type)
    error = caught.value
    assert isinstance(error, UnsupportedMediaTypeError)
    assert error.status == 415
    assert "supported: text/plain, text/markdown, text/html, text/csv, application/pdf" in str(
        error
    )


# --- plain text ---------------------------------------------------------------------------


def test_text_is_utf8_and_a_byte_order_mark_is_dropped() -> None:
    data = "\ufeffCafé: refunds in 30 days.\r\nSecond line.  \r\n".encode()
    got = extract(data, filename="notes.txt", content_type="text/plain")
    assert got == Extracted(
        text="Café: refunds in 30 days.\nSecond line.", title="notes", content_type="text/plain"
    )


def test_text_that_is_not_utf8_is_read_as_windows_1252() -> None:
    data = "Café “crème” \u2013 5 €".encode("cp1252")
    assert extract(data, filename="a.txt", content_type=None).text == "Café “crème” \u2013 5 €"
    assert extract("Ærø".encode("latin-1"), filename="b.txt", content_type=None).text == "Ærø"


def test_a_declared_charset_and_utf16_are_honoured() -> None:
    russian = "Возврат в течение 30 дней"
    assert (
        extract(
            russian.encode("koi8-r"), filename="r.txt", content_type="text/plain; charset=koi8-r"
        ).text
        == russian
    )
    assert extract(russian.encode("utf-16"), filename="r.txt", content_type=None).text == russian


def test_binary_bytes_are_not_text() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    assert _unreadable(png, "photo.txt") == "the file is not text: it holds binary data"


@pytest.mark.parametrize(
    ("data", "filename"),
    [(b"", "empty.txt"), (b"  \n\t\n", "blank.md"), (b"", "empty.pdf"), (b"", "e.csv")],
)
def test_an_empty_file_is_unreadable(data: bytes, filename: str) -> None:
    assert _unreadable(data, filename) == "the file is empty"


# --- Markdown -----------------------------------------------------------------------------


def test_markdown_is_kept_as_written_and_titled_by_its_first_heading() -> None:
    source = (
        "Intro line.\n\n```sh\n# not a heading\n```\n\n# Returns\n\n## Refund window\n\n"
        "Orders can be refunded within **30 days**.\n"
    )
    got = extract(source.encode(), filename="faq.md", content_type="text/markdown")
    assert got.text == source.strip()
    assert got.title == "Returns"
    assert got.content_type == "text/markdown"
    assert extract(b"no heading here", filename="faq.md", content_type=None).title == "faq"


# --- HTML ---------------------------------------------------------------------------------

HELP_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Help &amp; support</title>
<style>h1 { color: red }</style><script>var secret = "tracking code";</script></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li>Shop</li></ul></nav>
<h1>Help centre</h1>
<p>Deliveries take <b>2 to 4</b>
   business days.<br>Tracking links come by email.</p>
<div hidden>Old banner</div>
<h2>Opening hours</h2>
<table>
  <tr><th>Day</th><th>Hours</th></tr>
  <tr><td>Monday to Friday</td><td>8:00 to 18:00</td></tr>
  <tr><td>Weekend</td><td>closed</td></tr>
</table>
<h3>Contact</h3>
<ul><li>Email us</li><li>Call us &ndash; 9:00 to 17:00</li></ul>
<pre>code   stays
  as is</pre>
<noscript>Enable JavaScript</noscript>
</body></html>"""


def test_html_keeps_headings_paragraphs_lists_and_tables_and_drops_the_chrome() -> None:
    got = extract(HELP_PAGE.encode(), filename="help.html", content_type="text/html")
    assert got.content_type == "text/html"
    assert got.title == "Help & support"
    assert got.text == (
        "# Help centre\n\n"
        "Deliveries take 2 to 4 business days.\nTracking links come by email.\n\n"
        "## Opening hours\n\n"
        "Day: Monday to Friday; Hours: 8:00 to 18:00\n\n"
        "Day: Weekend; Hours: closed\n\n"
        "### Contact\n\n"
        "- Email us\n- Call us \u2013 9:00 to 17:00\n\n"
        "code   stays\n  as is"
    )
    for chrome in ("Home", "Shop", "color", "secret", "Old banner", "JavaScript"):
        assert chrome not in got.text


def test_untitled_html_takes_its_first_heading_and_headerless_tables_stay_rows() -> None:
    page = "<h2>Prices</h2><table><tr><td>Widget</td><td>4.90</td></tr></table>"
    got = extract(page.encode(), filename="prices.html", content_type=None)
    assert got.title == "Prices"
    assert got.text == "## Prices\n\nWidget | 4.90"


def test_html_with_nothing_but_scripts_holds_no_text() -> None:
    page = b"<html><head><script>alert(1)</script></head><body><nav>Menu</nav></body></html>"
    assert _unreadable(page, "x.html") == "the file holds no text"


# --- CSV ----------------------------------------------------------------------------------


def test_csv_rows_name_their_columns_one_row_per_paragraph() -> None:
    data = (
        b"item,price (EUR),delivery\n"
        b'Standard delivery,4.90,"2 to 4 days, tracked"\n'
        b"\n"
        b"Express delivery,9.90,\n"
        b"Gift wrap,2.00,same day,fragile\n"
    )
    got = extract(data, filename="price-list.csv", content_type="text/csv")
    assert got.title == "price-list"
    assert got.content_type == "text/csv"
    assert got.text == (
        "item: Standard delivery; price (EUR): 4.90; delivery: 2 to 4 days, tracked\n\n"
        "item: Express delivery; price (EUR): 9.90\n\n"  # empty cells left out
        "item: Gift wrap; price (EUR): 2.00; delivery: same day; column 4: fragile"
    )
    # each row is its own piece, so no chunk holds half a row
    for c in chunk(got.text, max_tokens=30, overlap_tokens=0):
        assert c.text.startswith("item: ")


def test_csv_with_semicolons_is_read_too() -> None:
    data = "Artikel;Preis\nVersand;4,90\nExpress;9,90\n".encode("cp1252")
    got = extract(data, filename="preise.csv", content_type=None)
    assert got.text == "Artikel: Versand; Preis: 4,90\n\nArtikel: Express; Preis: 9,90"


# --- PDF ----------------------------------------------------------------------------------


def test_pdf_text_comes_out_with_its_headings_paragraphs_and_pages() -> None:
    data = document(
        [
            ("title", "Returns policy"),
            ("paragraph", "Orders can be refunded in full within 30 days of delivery " * 4),
            ("paragraph", "Refunds go back to the original payment method (card or PayPal)."),
            ("heading", "Damaged package"),
            ("paragraph", "Send a photo within 7 days. Café crème is not covered."),
            ("page-break", ""),
            ("heading", "Opening hours"),
            ("paragraph", "Monday to Friday."),
        ]
    )
    got = extract(data, filename="returns-policy.pdf", content_type="application/pdf")
    assert got.content_type == "application/pdf"
    assert got.title == "Returns policy"  # no metadata title: the first heading
    wrapped = ("Orders can be refunded in full within 30 days of delivery " * 4).strip()
    assert got.pages == (
        "# Returns policy\n\n"
        f"{wrapped}\n\n"  # lines wrapped in the PDF are one paragraph again
        "Refunds go back to the original payment method (card or PayPal).\n\n"
        "## Damaged package\n\n"
        "Send a photo within 7 days. Café crème is not covered.",
        "## Opening hours\n\nMonday to Friday.",
    )
    assert got.text == "\n\n".join(got.pages)
    headings = [c.heading for c in chunk(got.text)]
    assert headings[-2:] == ["Returns policy > Damaged package", "Returns policy > Opening hours"]


def test_pdf_metadata_title_is_preferred() -> None:
    data = document([("paragraph", "Some text.")], title="Refund policy 2025")
    assert extract(data, filename="x.pdf", content_type=None).title == "Refund policy 2025"


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.4\n" + bytes(range(256)) * 8,  # a header, then garbage
        document([("paragraph", "Refunds within 30 days. " * 40)])[:700],  # truncated
        b"%PDF-1.7\n%%EOF\n",  # nothing but the frame
    ],
    ids=["garbage", "truncated", "hollow"],
)
def test_a_corrupt_pdf_is_unreadable_with_the_parsers_reason(data: bytes) -> None:
    reason = _unreadable(data, "policy.pdf", "application/pdf")
    assert re.fullmatch(r"the PDF could not be read: \S.*", reason), reason


def test_a_pdf_without_text_says_so() -> None:
    scanned = pages_pdf([[], []])  # pages with no text objects, as a scan without OCR
    reason = _unreadable(scanned, "scan.pdf", "application/pdf")
    assert reason.startswith("the PDF holds no text")
    assert _unreadable(pages_pdf([]), "none.pdf") == "the PDF has no pages"


def test_pdf_lines_set_in_the_body_size_are_never_headings() -> None:
    lines = [Text("Short line", 72, 700), Text("Another line of the body text.", 72, 686)]
    got = extract(pages_pdf([lines]), filename="x.pdf", content_type=None)
    assert "#" not in got.text
    assert got.title == "x"


def test_unreadable_errors_are_invalid_input_with_a_reason() -> None:
    error = UnreadableDocumentError("the file holds no text")
    assert isinstance(error, InvalidInputError)
    assert error.status == 422
    assert error.reason == str(error) == "the file holds no text"


def test_pypdf_is_loaded_only_for_pdfs() -> None:
    # the API imports this package to check types at upload: it must not pay for the parser
    code = (
        "import sys\n"
        "from flightdeck.knowledge import extract\n"
        "extract(b'# Hi\\n\\ntext', filename='a.md', content_type=None)\n"
        "assert 'pypdf' not in sys.modules, 'pypdf imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# --- the support_triage demo documents ----------------------------------------------------


def _demo_documents() -> dict[str, bytes]:
    folder = resources.files(TRIAGE).joinpath("documents")
    return {item.name: item.read_bytes() for item in folder.iterdir() if item.is_file()}


def test_the_demo_documents_cover_one_of_each_type_and_every_seeded_article() -> None:
    documents = _demo_documents()
    extracted = {
        name: extract(data, filename=name, content_type=None) for name, data in documents.items()
    }
    assert sorted(e.content_type for e in extracted.values()) == [
        "application/pdf",
        "text/csv",
        "text/html",
        "text/markdown",
    ]
    chunks = [c for e in extracted.values() for c in chunk(e.text)]
    corpus = " ".join(" ".join(c.text.split()) for c in chunks)
    articles = json.loads(resources.files(TRIAGE).joinpath("knowledge.json").read_text())
    for article in articles:
        first_sentence = article["body"].split(". ")[0]
        assert first_sentence in corpus, article["title"]


def test_the_committed_returns_policy_pdf_is_what_its_script_builds() -> None:
    # edit the text in tests/fixtures/knowledge/returns_policy.py, then run it
    assert _demo_documents()["returns-policy.pdf"] == returns_policy.build()


def test_the_demo_documents_ship_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["*"]
    for name in _demo_documents():
        assert any(fnmatch.fnmatch(f"documents/{name}", pattern) for pattern in patterns), name
