"""A long PDF as page ranges: where it is cut, with which strategy, and what is never cut."""

from __future__ import annotations

from pathlib import Path

import pypdfium2

from conftest import EXAMPLES
from ingest.config import PartitionConfig
from ingest.partition.pages import page_ranges

TEXT_PDF = EXAMPLES / "reports" / "layout-parser-paper-fast.pdf"  # 2 pages with a text layer
SCAN = EXAMPLES / "reports" / "scanned-memo.pdf"  # 1 page, an image


def repeated(source: Path, pages: int, to: Path) -> Path:
    """A PDF of ``pages`` pages, copied round-robin from ``source``."""
    original, copy = pypdfium2.PdfDocument(str(source)), pypdfium2.PdfDocument.new()
    copy.import_pages(original, [n % len(original) for n in range(pages)])
    copy.save(str(to))
    copy.close()
    original.close()
    return to


def test_ranges_are_equal_shares_a_multiple_of_the_workers(tmp_path):
    pdf = repeated(TEXT_PDF, 7, tmp_path / "seven.pdf")
    assert page_ranges(pdf, PartitionConfig(strategy="fast"), 3, workers=2) == (
        ((0, 2), (2, 4), (4, 6), (6, 7)),
        "fast",
    )
    assert page_ranges(pdf, PartitionConfig(strategy="fast"), 3, workers=1) == (((0, 3), (3, 6), (6, 7)), "fast")


def test_auto_resolves_once_for_the_whole_document(tmp_path):
    text = repeated(TEXT_PDF, 4, tmp_path / "text.pdf")
    scan = repeated(SCAN, 4, tmp_path / "scan.pdf")
    assert page_ranges(text, PartitionConfig(strategy="auto"), 2)[1] == "fast"
    assert page_ranges(scan, PartitionConfig(strategy="auto"), 2)[1] == "ocr_only"


def test_short_pdfs_other_files_and_splitting_off_are_never_cut(tmp_path):
    pdf = repeated(TEXT_PDF, 4, tmp_path / "four.pdf")
    fast = PartitionConfig(strategy="fast")
    assert page_ranges(pdf, fast, 4) == ((), "")
    assert page_ranges(pdf, fast, 0) == ((), "")
    assert page_ranges(EXAMPLES / "norwich-city.txt", fast, 1) == ((), "")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\nnot really")
    assert page_ranges(broken, fast, 1) == ((), "")
