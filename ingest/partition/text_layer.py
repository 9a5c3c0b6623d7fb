"""A PDF's text layer as pdfium reads it: each page's text, and elements built from it for pages that the
partitioner lost, for a whole PDF it would not read, and for every page under ``--strategy text``.

Elements are made as unstructured's ``fast`` makes them from pdfminer's text boxes: pdfium's lines parted where a
wide gap parts them (a table's cells, a leader to a page number) and joined where pdfium broke one of pdfminer's
(a superscript), right-to-left words read as written (pdfium turns some round), grouped into blocks by pdfminer's
rules (lines of about one height, near each other, aligned left, right or on their centres), the values of filled
form fields added as ``fast`` adds them, each block's text classified by unstructured's own ``element_from_text``
(with its spaCy calls, or by rules), and a page's elements put in the order unstructured's XY-cut gives ``fast``'s
(the same steps, on lists); with the page number, the block's coordinates (points, origin top left) and
``text_source: "pdfium"`` in their metadata.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import accumulate, groupby
from pathlib import Path

_GAP = 2.0  # a gap this many character widths wide parts a line (pdfminer's char_margin, on advance-wide boxes)
_CHAR_MARGIN = 3.0  # the same on pdfium's tighter boxes: which lines have room for a gap, which to join back
_SPREAD = 0.5  # a line wider than this many heights a character may hide a wide gap in one of pdfium's runs
_LINE_MARGIN = 0.5  # lines this many line heights apart or nearer may share a block (pdfminer's line_margin)
_LINE = re.compile(r"[^\r\n]+")  # pdfium ends each line of its text with CR LF
_HYPHEN = "\ufffe"  # what pdfium puts for a hyphen that ends a line
_PARTING = re.compile(f"[ {_HYPHEN}](?=[^ ])")  # where pdfium's line may hold two of pdfminer's
_RIGHT_TO_LEFT = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")  # Hebrew, Arabic, Syriac, Thaana, N'Ko
_NOT_LEFT_TO_RIGHT = "[^\\sA-Za-z0-9\u0660-\u0669\u06f0-\u06f9]"  # digits, Arabic ones too, read left to right
_RIGHT_TO_LEFT_LETTER = "[\u0590-\u065f\u066a-\u06ef\u06fa-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]"
_RIGHT_TO_LEFT_WORD = f"{_NOT_LEFT_TO_RIGHT}*{_RIGHT_TO_LEFT_LETTER}{_NOT_LEFT_TO_RIGHT}*"
_RIGHT_TO_LEFT_WORDS = re.compile(f"(?<!\\S){_RIGHT_TO_LEFT_WORD}(?:\\s+{_RIGHT_TO_LEFT_WORD})+(?!\\S)")
_WORD = re.compile(r"\S+")


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


@dataclass(slots=True)
class _Line:
    left: float
    top: float  # distance from the top of the page
    right: float
    bottom: float
    text: str
    height: float = field(init=False)

    def __post_init__(self):
        self.height = max(self.bottom - self.top, 1.0)


def elements_from_pages(path: Path, pages: list[int], filename: str, languages: list[str], rules: bool = False) -> list:
    """The elements of ``pages`` (numbered from 1), in page order, from the text layer. ``rules``: classified by
    rules (``nlp.by_rules``) rather than by unstructured's spaCy calls (batched)."""
    blocks = []
    pdf = _open(path)
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
        pdf = _open(path)
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


def _open(path: Path):
    """The PDF, with its form fields' values at hand when it has an (AcroForm) interactive form."""
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    pdf = pypdfium2.PdfDocument(str(path))
    if pdf.get_formtype() == pdfium_c.FORMTYPE_ACRO_FORM:
        with suppress(pypdfium2.PdfiumError):  # no values then; the text is read all the same
            pdf.init_forms()  # before any page is loaded
    return pdf


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
            top, bottom = min(line.top for line in block), max(line.bottom for line in block)
            points = ((left, top), (left, bottom), (right, bottom), (right, top))
            blocks.append((number, size, " ".join(line.text for line in block), points))
        if pdf.formenv is not None:
            blocks += [(number, size, value, points) for value, points in _field_values(pdf.formenv, page, shown)]
        return text, blocks
    finally:
        textpage.close()
        page.close()


def _elements(blocks: list, filename: str, languages: list[str], rules: bool) -> list:
    from unstructured.documents.coordinates import PixelSpace
    from unstructured.documents.elements import CoordinatesMetadata
    from unstructured.partition.text import element_from_text

    from ingest.partition.nlp import batched, by_rules

    elements = []
    with by_rules() if rules else batched(text for _, _, text, _ in blocks):
        for _number, same_page in groupby(blocks, key=lambda block: block[0]):
            page, made = list(same_page), []
            system = PixelSpace(*page[0][1])  # one page, one size
            for number, _, text, points in page:
                element = element_from_text(text, coordinates=points, coordinate_system=system)
                metadata = element.metadata  # set field by field: a new ElementMetadata costs more than classifying
                metadata.filename, metadata.filetype, metadata.page_number = filename, "application/pdf", number
                metadata.languages, metadata.text_source = languages, "pdfium"
                if metadata.coordinates is None:  # an email address is made without its box
                    metadata.coordinates = CoordinatesMetadata(points=points, system=system)
                made.append(element)
            for index, order in enumerate(_reading_order([block[3] for block in page])):
                made[order].id_to_hash(index)
                elements.append(made[order])
    return elements


def _field_values(form, page, shown: Callable[[float, float], tuple[float, float]]) -> list[tuple[str, tuple]]:
    """The values typed or chosen in the page's text and choice fields, with their corners (as `fast` adds them):
    they are drawn from the fields' widgets, not the page's content, so they are not in its text."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    kinds = (pdfium_c.FPDF_FORMFIELD_TEXTFIELD, pdfium_c.FPDF_FORMFIELD_COMBOBOX, pdfium_c.FPDF_FORMFIELD_LISTBOX)
    values, rect = [], pdfium_c.FS_RECTF()
    for index in range(pdfium_c.FPDFPage_GetAnnotCount(page.raw)):
        annotation = pdfium_c.FPDFPage_GetAnnot(page.raw, index)
        try:
            if (
                pdfium_c.FPDFAnnot_GetSubtype(annotation) != pdfium_c.FPDF_ANNOT_WIDGET
                or pdfium_c.FPDFAnnot_GetFormFieldType(form.raw, annotation) not in kinds
                or not pdfium_c.FPDFAnnot_GetRect(annotation, rect)
            ):
                continue
            size = pdfium_c.FPDFAnnot_GetFormFieldValue(form.raw, annotation, None, 0)
            buffer = ctypes.create_string_buffer(size)
            pdfium_c.FPDFAnnot_GetFormFieldValue(
                form.raw, annotation, ctypes.cast(buffer, ctypes.POINTER(pdfium_c.FPDF_WCHAR)), size
            )
            value = buffer.raw[: size - 2].decode("utf-16-le", "replace").strip()
            if value:
                (a, b), (c, d) = shown(rect.left, rect.top), shown(rect.right, rect.bottom)
                corners = (min(a, c), min(b, d)), (min(a, c), max(b, d)), (max(a, c), max(b, d)), (max(a, c), min(b, d))
                values.append((value, corners))
        finally:
            pdfium_c.FPDFPage_CloseAnnot(annotation)
    return values


def _shown(page) -> tuple[tuple[float, float], Callable[[float, float], tuple[float, float]]]:
    """The page as it is shown, in `fast`'s frame (pdfminer's): its size, and a map from the page's PDF space (y up)
    to it: the media box's top left corner at the origin, y down, the page's /Rotate applied (a landscape page is
    often a portrait one turned). pdfium's own ``FPDF_PageToDevice`` maps the same way but to whole points. A media
    box the page inherits from the page tree is not its own to pdfium: then the box shown, inherited, stands for it.
    """
    x0, y0, x1, y1 = page.get_mediabox(fallback_ok=False) or page.get_bbox()
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
    """The page's lines as pdfminer would make them, in pdfium's order: its text split where pdfium ends a line, cut
    at a space before a wide gap or at a hyphen pdfium joined to the next line (``_cut``), and joined where pdfium
    broke one of pdfminer's (``_add``); each line's box (on the page as it is ``shown``) from pdfium's rectangles for
    its characters, as high as its font."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    lines: list[_Line] = []
    left, top, right, bottom = (ctypes.c_double() for _ in range(4))
    loose, matrix = pdfium_c.FS_RECTF(), pdfium_c.FS_MATRIX()
    on_page = _on_page(textpage, text)
    right_to_left = _RIGHT_TO_LEFT.search(text) is not None

    def box(first: int, last: int) -> tuple[float, float, float, float, float] | None:
        """The union of pdfium's rectangles for characters ``first`` to ``last`` (one a run of text), and how much
        of its width no run covers."""
        rects = pdfium_c.FPDFText_CountRects(textpage.raw, first, last - first + 1) if 0 <= first <= last else 0
        if rects <= 0:
            return None
        pdfium_c.FPDFText_GetRect(textpage.raw, 0, left, top, right, bottom)
        x0, y0, x1, y1 = left.value, top.value, right.value, bottom.value
        covered = x1 - x0
        for index in range(1, rects):  # a line of several runs: its box holds them all
            pdfium_c.FPDFText_GetRect(textpage.raw, index, left, top, right, bottom)
            x0, y0, x1, y1 = min(x0, left.value), max(y0, top.value), max(x1, right.value), min(y1, bottom.value)
            covered += right.value - left.value
        return x0, y0, x1, y1, x1 - x0 - covered

    def tall(first: int, y0: float, y1: float) -> tuple[float, float]:
        """``y0`` and ``y1`` moved out to an em from the font's descent at character ``first`` when its text runs
        across the page's PDF space: pdfminer's lines are as high as their font, not as the glyphs drawn. The em is
        the font's size (pdfium gives it as set) scaled as the character is drawn (text drawn at 1 pt and scaled
        up, a table shrunk to fit)."""
        raw = textpage.raw
        pdfium_c.FPDFText_GetMatrix(raw, first, matrix)  # upright: not turned (pdfium's angle 0) nor mirrored
        if matrix.b == 0 and matrix.a > 0 and matrix.d > 0 and pdfium_c.FPDFText_GetLooseCharBox(raw, first, loose):
            y1 = min(y1, loose.bottom)
            y0 = max(y0, loose.bottom + pdfium_c.FPDFText_GetFontSize(raw, first) * abs(matrix.d))
        return y0, y1

    for match in _LINE.finditer(text):
        line = box(on_page[match.start()], on_page[match.end() - 1])
        if line is None:
            continue
        x0, y0, x1, y1, uncovered = line
        # a gap that parts the line lies between pdfium's runs, or inside a run wider than its characters would be:
        # only then are the characters around its spaces looked at
        spread = max(uncovered, x1 - x0 - _SPREAD * len(match.group()) * (y0 - y1))
        both_ways = right_to_left and _RIGHT_TO_LEFT.search(match.group()) is not None
        if spread > _CHAR_MARGIN * (y0 - y1) / 2 or _HYPHEN in match.group():
            pieces, joined = _cut(textpage, text, match.start(), match.end(), on_page, line, both_ways)
        else:
            pieces, joined = [(match.start(), match.end(), x0, x1)], False
        line_top, line_bottom = tall(on_page[match.start()], y0, y1)
        for begin, end, left_x, right_x in pieces:
            line_text = text[begin:end]
            if both_ways:
                line_text = _right_to_left(textpage, line_text, on_page[begin:end])
            line_text = " ".join(line_text.replace(_HYPHEN, "-").split())
            if not line_text:
                continue
            first, last = on_page[begin], on_page[end - 1]
            piece = joined and box(first, last)  # a hyphen joined lines, or both ways: each piece has a box of its own
            if piece:
                left_x, right_x, (upper, lower) = piece[0], piece[2], tall(first, piece[1], piece[3])
            else:
                upper, lower = line_top, line_bottom
            (a, b), (c, d) = shown(left_x, upper), shown(right_x, lower)  # turned by 90°s: still a box
            _add(lines, _Line(min(a, c), min(b, d), max(a, c), max(b, d), line_text))
    return lines


def _add(lines: list[_Line], line: _Line) -> None:
    """``line`` added to ``lines``; or joined to the last one when it goes on from it as pdfminer would join their
    characters into one line (a superscript, a change of font, that pdfium starts a new line for): beside it, no
    wider a gap than ``_CHAR_MARGIN`` of their narrower average character, overlapping half the lower one's height."""
    last = lines[-1] if lines else None
    if last is not None:
        gap = line.left - last.right
        narrower = min((last.right - last.left) / len(last.text), (line.right - line.left) / len(line.text))
        overlap = min(last.bottom, line.bottom) - max(last.top, line.top)
        if -narrower < gap < _CHAR_MARGIN * narrower and overlap > min(last.height, line.height) / 2:
            space = " " if gap > max(last.height, line.height) / 5 else ""  # a word space, not a side bearing
            top, bottom = min(last.top, line.top), max(last.bottom, line.bottom)
            lines[-1] = _Line(last.left, top, line.right, bottom, last.text + space + line.text)
            return
    lines.append(line)


def _cut(
    textpage, text: str, start: int, end: int, on_page: Sequence[int], box: tuple, both_ways: bool = False
) -> tuple[list, bool]:
    """Where pdfminer would part the line ``text[start:end]`` that pdfium made (its ``box``): at a space where the
    characters each side of it are ``_GAP`` times the wider one's advance apart, and after a hyphen that ends a line
    (pdfium joins the next line to it). ``both_ways``: the line holds right-to-left text, which pdfium gives in
    reading order, not across the page: a gap may open to the left, and is one only where no other character of the
    line is drawn. The pieces as (start, end, left, right), and whether their boxes are not the line's (a hyphen
    joined lines, or both ways)."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    left, top, right, bottom = (ctypes.c_double() for _ in range(4))
    raw, char_box = textpage.raw, pdfium_c.FPDFText_GetCharBox
    height = max(box[1] - box[3], 1.0)
    drawn = map(textpage.get_charbox, on_page[start:end]) if both_ways else ()
    centres = sorted((x0 + x1) / 2 for x0, _, x1, _ in drawn)  # where the line's characters are drawn
    pieces, x0, joined = [], box[0], both_ways
    for match in _PARTING.finditer(text, start, end):
        position = match.start()
        if position == end - 1:
            break
        index = on_page[position]
        space = text[position] == " "
        char_box(raw, index - space, left, right, bottom, top)
        end_x, end_top, end_left = right.value, top.value, left.value
        char_box(raw, index + 1, left, right, bottom, top)
        gap = max(left.value - end_x, end_left - right.value if both_ways else 0.0)
        if space and gap >= _GAP * (right.value - left.value) and _parts(raw, index, both_ways, centres):
            pieces.append((start, position, x0, end_x))
            start, x0 = position + 1, left.value
        elif not space and (left.value < end_x - height or abs(top.value - end_top) > height / 2):
            pieces.append((start, position + 1, x0, end_x))
            start, x0, joined = position + 1, left.value, True
    pieces.append((start, end, x0, box[2]))
    return pieces, joined


def _parts(raw, index: int, both_ways: bool, centres: list[float]) -> bool:
    """Whether pdfminer parts a line at the space at ``index``: the characters each side of it (the space itself
    when it is drawn, not made up by pdfium) are ``_GAP`` times the wider one's advance apart, as pdfminer's boxes
    are; ``both_ways``, to the left too, where none of the line's characters (their ``centres``) is drawn. Only
    asked where their drawn boxes are that far apart, as their advances are at least as wide."""
    import pypdfium2.raw as pdfium_c

    loose = pdfium_c.FS_RECTF()
    pdfium_c.FPDFText_GetLooseCharBox(raw, index - 1 if pdfium_c.FPDFText_IsGenerated(raw, index) else index, loose)
    a_left, a_right = loose.left, loose.right
    pdfium_c.FPDFText_GetLooseCharBox(raw, index + 1, loose)
    gap, near, far = loose.left - a_right, a_right, loose.left
    if both_ways and a_left - loose.right > gap:
        gap, near, far = a_left - loose.right, loose.right, a_left
    wide = gap >= _GAP * max(a_right - a_left, loose.right - loose.left)
    return wide and bisect_left(centres, far) == bisect_right(centres, near)


def _right_to_left(textpage, text: str, indices: Sequence[int]) -> str:
    """``text`` (its characters at ``indices`` on the page) with its right-to-left words read as they are drawn.
    pdfium turns a right-to-left run round to read it, but the characters of one glyph too (a lam-alef ligature,
    mapped to "لا", comes out "ال"; a glyph's characters follow each other with one box), and in a line that
    also holds left-to-right text it turns each word alone: the words of a run come out in drawing order. So each
    glyph's characters are put back in its font's order, and a run of right-to-left words in order from the right."""
    import pypdfium2.raw as pdfium_c

    boxes = [textpage.get_charbox(index) for index in indices]
    glyphs, start = [], 0
    for end in range(1, len(text) + 1):
        if end == len(text) or boxes[end] != boxes[start]:
            glyph = text[start:end]
            glyphs.append(glyph[::-1] if end - start > 1 and _RIGHT_TO_LEFT.search(glyph) else glyph)
            start = end
    text = "".join(glyphs)
    if pdfium_c.FPDFText_GetCharAngle(textpage.raw, indices[0]):  # turned text: not read across the page
        return text

    def centre(word: re.Match) -> float:
        return sum(boxes[word.start()][0::2] + boxes[word.end() - 1][0::2]) / 4

    out, at = [], 0
    for run in _RIGHT_TO_LEFT_WORDS.finditer(text):
        words = sorted(_WORD.finditer(text, run.start(), run.end()), key=centre, reverse=True)
        out += [text[at : run.start()], " ".join(word.group() for word in words)]
        at = run.end()
    return "".join(out) + text[at:]


def _on_page(textpage, text: str) -> Sequence[int]:
    """For each position in ``text``, the index of its character on the page: the same, unless pdfium left control
    characters out of the text (a glyph without Unicode) or a character takes two UTF-16 units (pdfium counts
    those)."""
    import pypdfium2.raw as pdfium_c

    if len(text.encode("utf-16-le")) // 2 == len(text) == textpage.count_chars():
        return range(len(text))
    units = list(accumulate((1 + (ord(char) > 0xFFFF) for char in text), initial=0))
    return [pdfium_c.FPDFText_GetCharIndexFromTextIndex(textpage.raw, unit) for unit in units[:-1]]


def _blocks(lines: list[_Line]) -> list[list[_Line]]:
    """Lines grouped into blocks as pdfminer groups them: two lines are neighbours when they are about as high, at
    most ``_LINE_MARGIN`` heights apart, overlap across and line up on the left, the right or their centres; a
    block is a chain of neighbours, its lines top to bottom. Blocks in the order of their first line."""
    parent = list(range(len(lines)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    order = sorted(range(len(lines)), key=lambda index: lines[index].top)
    reach = _LINE_MARGIN * max((line.height for line in lines), default=0.0)
    for place, index in enumerate(order):
        a = lines[index]
        for other in order[place + 1 :]:
            b = lines[other]
            if b.top > a.bottom + reach:
                break
            if b.left >= a.right or a.left >= b.right:
                continue
            margin = _LINE_MARGIN * (a.height if a.height > b.height else b.height)
            if (
                b.top < a.bottom + margin
                and abs(a.height - b.height) <= margin
                and min(abs(a.left - b.left), abs(a.right - b.right), abs(a.left + a.right - b.left - b.right) / 2)
                <= margin
            ):
                parent[root(other)] = root(index)
    blocks: dict[int, list[_Line]] = {}
    for index, line in enumerate(lines):
        blocks.setdefault(root(index), []).append(line)
    return [sorted(block, key=lambda line: line.top) for block in blocks.values()]


def _reading_order(corners: list[tuple]) -> list[int]:
    """The order of a page's blocks (given by their corners, as in element coordinates) that unstructured's XY-cut
    gives `fast`'s elements (``partition.utils.sorting.sort_page_elements``, its defaults): boxes cut to whole points
    and shrunk to 90% towards their top left, then split where a stretch of the page holds none of them (across
    first, then down, again in each part); the same steps and sorts, on lists. A box that unstructured's drops (one
    that shrinks to nothing outside the others: a lone full stop) is kept, after the block drawn before it. A page
    with a point left of or above it keeps its order, as there."""
    if any(x < 0 or y < 0 for points in corners for x, y in points):
        return list(range(len(corners)))
    boxes = []
    for (left, top), _, (right, bottom), _ in corners:
        left, top, right, bottom = int(left), int(top), int(right), int(bottom)
        width, height = right - left, bottom - top
        boxes.append((left, top, int(right - (width - width * 0.9)), int(bottom - (height - height * 0.9))))
    order: list[int] = []
    strays: list[int] = []
    _xy_cut(boxes, list(range(len(boxes))), order, strays)
    for stray in sorted(strays):
        order.insert(order.index(stray - 1) + 1 if stray - 1 in order else 0, stray)
    return order


def _xy_cut(boxes: list[tuple[int, int, int, int]], indices: list[int], order: list[int], strays: list[int]) -> None:
    for column in _runs(boxes, sorted(indices, key=lambda index: boxes[index][0]), 0, strays):
        column = sorted(column, key=lambda index: boxes[index][1])
        missed: list[int] = []
        rows = _runs(boxes, column, 1, missed)
        if len(rows) == 1:  # the column as it is, what covers nothing too
            order.extend(column)
            continue
        strays.extend(missed)
        for row in rows:
            _xy_cut(boxes, row, order, strays)


def _runs(boxes: list[tuple[int, int, int, int]], indices: list[int], axis: int, strays: list[int]) -> list[list]:
    """``indices`` (sorted by their boxes' start along ``axis``) parted where no box covers a point between them;
    a box that covers nothing and starts where no other does goes to ``strays``."""
    stretches: list[list[int]] = []
    for index in indices:
        start, end = boxes[index][axis], boxes[index][axis + 2]
        if end > start:
            if stretches and start <= stretches[-1][1]:
                stretches[-1][1] = max(stretches[-1][1], end)
            else:
                stretches.append([start, end])
    runs: list[list[int]] = [[] for _ in stretches]
    starts = [start for start, _ in stretches]
    for index in indices:
        start = boxes[index][axis]
        place = bisect_right(starts, start) - 1
        if place >= 0 and start < stretches[place][1]:
            runs[place].append(index)
        else:
            strays.append(index)
    return runs
