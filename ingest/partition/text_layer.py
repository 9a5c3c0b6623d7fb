"""A PDF's text layer as pdfium reads it: each page's text, and elements built from it for pages that the
partitioner lost, for a whole PDF it would not read, and for every page under ``--strategy text``.

Elements are made as unstructured's ``fast`` makes them from pdfminer's text boxes: the text of a block of lines,
classified by unstructured's own ``element_from_text`` (with its spaCy calls, or by rules), with the page number,
the block's coordinates (points, origin top left) and ``text_source: "pdfium"`` in their metadata.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

_BLOCK_GAP = 0.7  # a vertical gap wider than this many line heights starts a new block
_LINE = re.compile(r"[^\r\n]+")  # pdfium ends each line of its text with CR LF
_HYPHEN = "\ufffe"  # what pdfium puts for a hyphen that ends a line


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


def elements_from_pages(path: Path, pages: list[int], filename: str, languages: list[str], rules: bool = False) -> list:
    """The elements of ``pages`` (numbered from 1), in page order, from the text layer. ``rules``: classified by
    rules (``nlp.by_rules``) rather than by unstructured's spaCy calls (batched)."""
    import pypdfium2

    blocks = []
    pdf = pypdfium2.PdfDocument(str(path))
    try:
        for number in pages:
            blocks += _page_blocks(pdf, number)[1]
    finally:
        pdf.close()
    return _elements(blocks, filename, languages, rules)


def read(path: Path, filename: str, languages: list[str]) -> tuple[list[str], list] | None:
    """``--strategy text`` in one pass: each page's text, and the elements of every page that has text, classified
    by rules. None when pdfium cannot open the file."""
    import pypdfium2

    from ingest.partition.coverage import characters

    try:
        pdf = pypdfium2.PdfDocument(str(path))
    except pypdfium2.PdfiumError:
        return None
    layer, blocks = [], []
    try:
        for number in range(1, len(pdf) + 1):
            text, found = _page_blocks(pdf, number)
            layer.append(text)
            blocks += found if characters(text) else []
    finally:
        pdf.close()
    return layer, _elements(blocks, filename, languages, rules=True)


def _page_blocks(pdf, number: int) -> tuple[str, list]:
    """A page's text ("" for a page pdfium cannot load) and its blocks: (page number, page size, text, corners)."""
    import pypdfium2

    try:
        page = pdf[number - 1]
        textpage = page.get_textpage()
    except pypdfium2.PdfiumError:
        return "", []
    try:
        size, shown = _shown(page)
        text = textpage.get_text_range()
        blocks = []
        for block in _blocks(_lines(textpage, text, shown)):
            left, right = min(line.left for line in block), max(line.right for line in block)
            top, bottom = block[0].top, block[-1].bottom
            points = ((left, top), (left, bottom), (right, bottom), (right, top))
            blocks.append((number, size, " ".join(line.text for line in block), points))
        return text, blocks
    finally:
        textpage.close()
        page.close()


def _elements(blocks: list, filename: str, languages: list[str], rules: bool) -> list:
    from unstructured.documents.coordinates import PixelSpace
    from unstructured.documents.elements import CoordinatesMetadata
    from unstructured.partition.text import element_from_text

    from ingest.partition.nlp import batched, by_rules

    elements, on_page = [], Counter()
    with by_rules() if rules else batched(text for _, _, text, _ in blocks):
        for number, (width, height), text, points in blocks:
            system = PixelSpace(width=width, height=height)
            element = element_from_text(text, coordinates=points, coordinate_system=system)
            metadata = element.metadata  # set field by field: a new ElementMetadata costs more than classifying
            metadata.filename, metadata.filetype, metadata.page_number = filename, "application/pdf", number
            metadata.languages, metadata.text_source = languages, "pdfium"
            if metadata.coordinates is None:  # an email address is made without its box
                metadata.coordinates = CoordinatesMetadata(points=points, system=system)
            element.id_to_hash(on_page[number])
            on_page[number] += 1
            elements.append(element)
    return elements


def _shown(page) -> tuple[tuple[float, float], Callable[[float, float], tuple[float, float]]]:
    """The page as it is shown, in `fast`'s frame (pdfminer's): its size, and a map from the page's PDF space (y up)
    to it: the media box's top left corner at the origin, y down, the page's /Rotate applied (a landscape page is
    often a portrait one turned). pdfium's own ``FPDF_PageToDevice`` maps the same way but to whole points."""
    x0, y0, x1, y1 = page.get_mediabox()
    width, height = x1 - x0, y1 - y0
    rotation = page.get_rotation()
    if rotation == 90:
        return (height, width), lambda x, y: (y - y0, x - x0)
    if rotation == 180:
        return (width, height), lambda x, y: (width - x + x0, y - y0)
    if rotation == 270:
        return (height, width), lambda x, y: (height - y + y0, width - x + x0)
    return (width, height), lambda x, y: (x - x0, height - y + y0)


def _lines(textpage, text: str, shown: Callable[[float, float], tuple[float, float]]) -> list[_Line]:
    """The page's lines in pdfium's reading order: its text split where pdfium ends a line, each line's box (on the
    page as it is ``shown``) from pdfium's rectangles for its characters."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    lines: list[_Line] = []
    left, top, right, bottom = (ctypes.c_double() for _ in range(4))
    on_page = _on_page(textpage, text)
    for match in _LINE.finditer(text):
        line_text = " ".join(match.group().replace(_HYPHEN, "-").split())
        first, last = on_page(match.start()), on_page(match.end() - 1)
        rects = pdfium_c.FPDFText_CountRects(textpage.raw, first, last - first + 1) if 0 <= first <= last else 0
        if not line_text or rects <= 0:
            continue
        pdfium_c.FPDFText_GetRect(textpage.raw, 0, left, top, right, bottom)
        x0, y0, x1, y1 = left.value, top.value, right.value, bottom.value
        for index in range(1, rects):  # a line of several runs: its box holds them all
            pdfium_c.FPDFText_GetRect(textpage.raw, index, left, top, right, bottom)
            x0, y0, x1, y1 = min(x0, left.value), max(y0, top.value), max(x1, right.value), min(y1, bottom.value)
        (a, b), (c, d) = shown(x0, y0), shown(x1, y1)  # turned by a multiple of 90°: still a box
        line = _Line(min(a, c), min(b, d), max(a, c), max(b, d), line_text)
        lines.append(line)
    return lines


def _on_page(textpage, text: str) -> Callable[[int], int]:
    """From a position in ``text`` to the index of its character on the page: the same, unless pdfium left control
    characters out of the text (a glyph without Unicode) or a character takes two UTF-16 units (pdfium counts
    those)."""
    import pypdfium2.raw as pdfium_c

    if len(text.encode("utf-16-le")) // 2 == len(text) == textpage.count_chars():
        return lambda position: position
    units = list(accumulate((1 + (ord(char) > 0xFFFF) for char in text), initial=0))
    return lambda position: pdfium_c.FPDFText_GetCharIndexFromTextIndex(textpage.raw, units[position])


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
