"""A long PDF as page ranges: where to cut it, one range's elements, and the ranges merged back into what an unsplit
run gives."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ingest.config import PartitionConfig
from ingest.errors import DocumentError
from ingest.partition import is_pdf, partition


def page_ranges(
    path: Path, cfg: PartitionConfig, split_pages: int, workers: int = 1
) -> tuple[tuple[tuple[int, int], ...], str]:
    """For a PDF of more than ``split_pages`` pages: ranges of at most that many pages, as many as a multiple of
    ``workers`` so that each gets an equal share (every range costs a fixed ~0.5 s more), and the strategy the whole
    document resolves to (``auto`` chooses per file, so every range must use the whole document's choice to give
    what an unsplit run gives). Nothing for other files, short PDFs, PDFs unstructured judges too complex for
    text extraction (a whole-document decision), and under ``--strategy text``."""
    if not split_pages or cfg.strategy == "text" or not is_pdf(path):  # text: hundreds of pages a second
        return (), ""
    import pypdfium2
    from unstructured.partition.pdf import is_pdf_too_complex
    from unstructured.partition.strategies import determine_pdf_or_image_strategy

    try:
        pdf = pypdfium2.PdfDocument(str(path))
    except pypdfium2.PdfiumError:
        return (), ""  # partitioning it whole reports what is wrong
    try:
        count = len(pdf)
        if count <= split_pages or is_pdf_too_complex(filename=str(path)):
            return (), ""
        strategy = cfg.layout_strategy
        if strategy == "auto":
            has_text = any(page.get_textpage().get_text_range().strip() for page in pdf)
            strategy = str(determine_pdf_or_image_strategy(strategy, pdf_text_extractable=has_text))
    finally:
        pdf.close()
    ranges = -(-count // split_pages)
    ranges += -ranges % max(workers, 1)
    size = -(-count // ranges)
    return tuple((first, min(first + size, count)) for first in range(0, count, size)), strategy


def partition_pages(path: Path, filename: str, cfg: PartitionConfig, pages: tuple[int, int], strategy: str) -> list:
    """Elements of ``pages`` ([first, last), from 0) of a PDF, numbered as in the whole document. The pages are
    copied to a PDF of their own in a temporary folder."""
    import pypdfium2

    first, last = pages
    with tempfile.TemporaryDirectory(prefix="ingest-pages-") as folder:
        piece = Path(folder, f"pages-{first:06d}.pdf")
        source, copy = pypdfium2.PdfDocument(str(path)), pypdfium2.PdfDocument.new()
        try:
            copy.import_pages(source, list(range(first, last)))
            copy.save(str(piece))
        except pypdfium2.PdfiumError as exc:
            named = f"page {last}" if last == first + 1 else f"pages {first + 1}-{last}"
            raise DocumentError(
                f"the PDF is damaged: pdfium cannot copy out {named} ({exc})", "partition", "CorruptPDF"
            ) from None
        finally:
            copy.close()
            source.close()
        return partition(piece, filename, cfg, strategy, first + 1)


def merged(parts: list[list]) -> list:
    """The elements of consecutive page ranges as one document: unstructured's element ids already depend only on
    text, page and position on the page; the one link across pages, each element's parent, is set again over the
    whole sequence, as partitioning does."""
    from unstructured.partition.common.metadata import set_element_hierarchy

    elements = [element for part in parts for element in part]
    for element in elements:
        element.metadata.parent_id = None
    return set_element_hierarchy(elements)
