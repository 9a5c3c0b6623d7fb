"""A PDF's text layer as pdfium reads it: each page's text, and elements built from it for pages that the
partitioner lost (or for a whole PDF it would not read).

Elements are made as unstructured's ``fast`` makes them from pdfminer's text boxes: the text of a block of lines,
classified by unstructured's own ``element_from_text``, with the page number, the block's coordinates (points,
origin top left) and ``text_source: "pdfium"`` in their metadata.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_BLOCK_GAP = 0.7  # a vertical gap wider than this many line heights starts a new block


def page_texts(path: Path) -> list[str] | None:
    """Each page's text ("" for a page pdfium cannot load), or None when pdfium cannot open the file."""
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(str(path))
    except pypdfium2.PdfiumError:
        return None
    try:
        return [_text(pdf, index) for index in range(len(pdf))]
    finally:
        pdf.close()


def without_unmapped(path: Path, layer: list[str], pages: list[int]) -> list[str]:
    """``layer`` with the text of ``pages`` (numbered from 1) read again without the characters for which pdfium
    finds no Unicode value in the font (a broken ToUnicode map): what it puts there is not text, so no partitioner
    can be asked to keep it. Read character by character, so only for the few pages whose coverage is in doubt."""
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    layer = list(layer)
    pdf = pypdfium2.PdfDocument(str(path))
    try:
        for number in pages:
            page = pdf[number - 1]
            textpage = page.get_textpage()
            layer[number - 1] = "".join(
                chr(pdfium_c.FPDFText_GetUnicode(textpage.raw, index))
                for index in range(textpage.count_chars())
                if not pdfium_c.FPDFText_HasUnicodeMapError(textpage.raw, index)
            )
            textpage.close()
            page.close()
    finally:
        pdf.close()
    return layer


def _text(pdf, index: int) -> str:
    import pypdfium2

    try:
        page = pdf[index]
        textpage = page.get_textpage()
    except pypdfium2.PdfiumError:  # a damaged page: nothing to compare it with, nothing to recover from it
        return ""
    try:
        return textpage.get_text_range()
    finally:
        textpage.close()
        page.close()


@dataclass
class _Line:
    left: float
    top: float  # distance from the top of the page
    right: float
    bottom: float
    text: str

    @property
    def height(self) -> float:
        return max(self.bottom - self.top, 1.0)


def elements_from_pages(path: Path, pages: list[int], filename: str, languages: list[str]) -> list:
    """The elements of ``pages`` (numbered from 1), in page order, from the text layer."""
    import pypdfium2
    from unstructured.documents.coordinates import PixelSpace
    from unstructured.documents.elements import CoordinatesMetadata, ElementMetadata
    from unstructured.partition.text import element_from_text

    from ingest.partition.nlp import batched

    blocks = []  # (page number, page size, text, corner points)
    pdf = pypdfium2.PdfDocument(str(path))
    try:
        for number in pages:
            page = pdf[number - 1]
            width, height = page.get_size()
            for block in _blocks(_lines(page, height)):
                left, right = min(line.left for line in block), max(line.right for line in block)
                top, bottom = block[0].top, block[-1].bottom
                points = ((left, top), (left, bottom), (right, bottom), (right, top))
                blocks.append((number, (width, height), " ".join(line.text for line in block), points))
            page.close()
    finally:
        pdf.close()

    elements, on_page = [], Counter()
    with batched(text for _, _, text, _ in blocks):  # classified as unstructured does, its spaCy calls batched
        for number, (width, height), text, points in blocks:
            system = PixelSpace(width=width, height=height)
            element = element_from_text(text, coordinates=points, coordinate_system=system)
            element.metadata = ElementMetadata(
                filename=filename,
                filetype="application/pdf",
                page_number=number,
                languages=languages,
                coordinates=CoordinatesMetadata(points=points, system=system),
            )
            element.metadata.text_source = "pdfium"
            element.id_to_hash(on_page[number])
            on_page[number] += 1
            elements.append(element)
    return elements


def _lines(page, height: float) -> list[_Line]:
    """The page's text runs in pdfium's reading order, joined into lines."""
    textpage = page.get_textpage()
    lines: list[_Line] = []
    try:
        for index in range(textpage.count_rects()):
            left, bottom, right, top = textpage.get_rect(index)
            text = " ".join(textpage.get_text_bounded(left, bottom, right, top).split())
            if not text:
                continue
            run = _Line(left, height - top, right, height - bottom, text)
            last = lines[-1] if lines else None
            if last and abs((last.top + last.bottom) - (run.top + run.bottom)) / 2 < last.height / 2:
                last.text, last.right = f"{last.text} {run.text}", max(last.right, run.right)
                last.top, last.bottom = min(last.top, run.top), max(last.bottom, run.bottom)
            else:
                lines.append(run)
    finally:
        textpage.close()
    return lines


def _blocks(lines: list[_Line]) -> list[list[_Line]]:
    """Lines grouped into blocks: a wide vertical gap, or a move up the page (a new column), starts one."""
    blocks: list[list[_Line]] = []
    for line in lines:
        last = blocks[-1][-1] if blocks else None
        if last is None or line.top - last.bottom > _BLOCK_GAP * last.height or line.bottom < last.top:
            blocks.append([line])
        else:
            blocks[-1].append(line)
    return blocks
