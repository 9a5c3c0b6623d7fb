"""Tables as HTML, offline: each Table block the layout model finds on a PDF page is read from the page's text layer
by pdfplumber's table finder (its ruling lines where the table has them, the alignment of its words where not).

unstructured's own table-structure model (``infer_table_structure``) is fetched from the Hugging Face hub on first use
and cannot load without that network. A table on a scanned page has no text layer to read: it keeps the text OCR
gave it and gets no HTML.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

_STRATEGIES = ("lines", "text")  # ruled tables first; pdfplumber's "text" finds borderless ones by word alignment
_MARGIN = 2.0  # points around the layout model's box, which can cut a cell's edge
_CID = re.compile(r"\(cid:\d+\)")  # pdfminer's mark for a glyph without a Unicode value: not text


def with_html(path: Path, elements: list) -> None:
    """Give each Table element of this PDF that has coordinates and no ``text_as_html`` the HTML of the table that
    its page's text layer holds in its box."""
    tables = [
        element
        for element in elements
        if element.category == "Table" and not element.metadata.text_as_html and element.metadata.coordinates
    ]
    if not tables:
        return
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        for element in tables:
            number = element.metadata.page_number or 1
            rows = _rows(pdf.pages[number - 1], element.metadata.coordinates) if number <= len(pdf.pages) else []
            if rows:
                element.metadata.text_as_html = as_html(rows)


def _rows(page, coordinates) -> list[list[str]]:
    """The rows of the largest table in the box (page points, from the layout's pixels), empty rows and columns
    left out; none where the box holds no text."""
    xs = [point[0] for point in coordinates.points]
    ys = [point[1] for point in coordinates.points]
    scale_x = float(page.width) / coordinates.system.width
    scale_y = float(page.height) / coordinates.system.height
    box = (
        max(float(page.bbox[0]), min(xs) * scale_x - _MARGIN + float(page.bbox[0])),
        max(float(page.bbox[1]), min(ys) * scale_y - _MARGIN + float(page.bbox[1])),
        min(float(page.bbox[2]), max(xs) * scale_x + _MARGIN + float(page.bbox[0])),
        min(float(page.bbox[3]), max(ys) * scale_y + _MARGIN + float(page.bbox[1])),
    )
    if box[0] >= box[2] or box[1] >= box[3]:
        return []
    region = page.crop(box, strict=False)
    if not region.chars:
        return []
    best: list[list[str]] = []
    for strategy in _STRATEGIES:
        settings = {"vertical_strategy": strategy, "horizontal_strategy": strategy}
        for table in region.find_tables(settings):
            rows = _cleaned(table.extract(x_tolerance=1.5))
            if _cells(rows) > _cells(best):
                best = rows
    return best if len(best) > 1 or _cells(best) > 1 else []


def _cleaned(rows: list[list[str | None]]) -> list[list[str]]:
    texts = [[" ".join(_CID.sub("", cell or "").split()) for cell in row] for row in rows]
    texts = [row for row in texts if any(row)]
    width = max(map(len, texts), default=0)
    texts = [row + [""] * (width - len(row)) for row in texts]
    used = [index for index in range(width) if any(row[index] for row in texts)]
    return [[row[index] for index in used] for row in texts]


def _cells(rows: list[list[str]]) -> int:
    return sum(1 for row in rows for cell in row if cell)


def as_html(rows: list[list[str]]) -> str:
    """Rows as an HTML table, the first as its header, every cell's text escaped."""
    head, *body = rows
    lines = ["<table>", "<thead><tr>" + "".join(f"<th>{html.escape(cell)}</th>" for cell in head) + "</tr></thead>"]
    if body:
        lines.append("<tbody>")
        lines += ["<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in body]
        lines.append("</tbody>")
    return "".join(lines + ["</table>"])
