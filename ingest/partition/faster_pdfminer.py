"""pdfminer, faster, with the same results: its tokenizer, its characters and its text lines. The one module that
reaches into pdfminer.six's internals, for the version in ``PDFMINER_VERSION`` only (another version runs as
stock); ``tests/test_faster_pdfminer.py`` compares it with stock pdfminer on every page of real PDFs.

pdfminer runs a page in three steps that each cost a Python call or more per byte or character, written here
with the same results and fewer calls:

- tokens: stock reads content streams with a state machine, one method call per piece of a token, logging each
  step. ``nexttoken`` reads each whole token that lies inside the current buffer with one regular expression
  (the state machine's own character classes, so the same token at the same position) and leaves anything else
  to the stock machine: tokens cut by a buffer or stream end, comments, escapes in names and strings, nested
  parentheses. ``FastContentParser.nextobject`` is stock's without the logging, returning a plain token or
  operator directly instead of through the result stack.
- characters: each character of horizontal text became an ``LTChar`` through four nested calls that each unpack
  tuples (``render_char``, ``LTChar.__init__``, ``apply_matrix_rect``, ``apply_matrix_pt``); ``render_char``
  computes the same box with the same arithmetic in one function and sets the same attributes.
- lines: ``add_to_line`` is ``LTTextLineHorizontal.add`` with the container methods it calls written out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pdfminer
from pdfminer import pdfinterp, settings
from pdfminer.converter import PDFLayoutAnalyzer
from pdfminer.layout import LTAnno, LTChar, LTTextLineHorizontal
from pdfminer.pdffont import PDFUnicodeNotDefined
from pdfminer.psparser import (
    HEX_PAIR,
    KEYWORD_ARRAY_BEGIN,
    KEYWORD_ARRAY_END,
    KEYWORD_DICT_BEGIN,
    KEYWORD_DICT_END,
    KEYWORD_PROC_BEGIN,
    KEYWORD_PROC_END,
    KWD,
    LIT,
    SPC,
    PSBaseParser,
    PSException,
    PSKeyword,
    PSLiteral,
    PSSyntaxError,
    PSTypeError,
    literal_name,
)
from pdfminer.utils import choplist

PDFMINER_VERSION = "20260107"

_SPACE = rb" \t\n\r\f\v"  # bytes regexes' \s: what pdfminer skips between tokens
_ENDS_NAME = rb"#/%\[\]()<>{}" + _SPACE  # pdfminer's END_LITERAL and END_KEYWORD
_TOKEN = re.compile(
    b"[" + _SPACE + b"]*(?:"
    # a number, atomic so that one cut by the buffer's end is never read short (stock waits for the rest)
    rb"(?P<number>(?>[-+]?[0-9]+(?:\.[0-9]*)?|[-+]?\.[0-9]+))(?=[^0-9])"
    rb"|/(?P<name>[^" + _ENDS_NAME + rb"]*)(?=[/%\[\]()<>{}" + _SPACE + rb"])"
    rb"|(?P<operator>[A-Za-z][^" + _ENDS_NAME + rb"]*)(?=[" + _ENDS_NAME + rb"])"
    rb"|\((?P<string>[^()\\]*)\)"
    rb"|(?P<char>[\[\]{}'\"])"
    rb"|(?P<dict><<|>>)"
    rb"|<(?P<hex>[0-9a-fA-F" + _SPACE + rb"]*)>(?=[^>])"  # stock reads "<AB>>" as a string and a dict's end
    rb")"
)
_OPENED = {"name": 1, "string": 1, "hex": 1}  # the token's position is its opening character's
_PLAIN = (int, float, bool, str, bytes, PSLiteral)
_STRUCTURE = frozenset(KWD(name) for name in (b"[", b"]", b"<<", b">>", b"{", b"}", b"BI", b"ID"))  # stock's own


def _hex_byte(match: re.Match) -> bytes:
    return bytes((int(match.group(0), 16),))


def _token(kind: str, value: bytes):
    """The token pdfminer's state machine makes of this text."""
    if kind == "number":
        return float(value) if b"." in value else int(value)
    if kind == "operator":
        return True if value == b"true" else False if value == b"false" else KWD(value)
    if kind == "name":
        try:
            return LIT(str(value, "utf-8"))
        except UnicodeDecodeError:
            return LIT(value)
    if kind == "string":
        return value
    if kind == "char":
        return KWD(value)
    if kind == "dict":
        return KEYWORD_DICT_BEGIN if value == b"<<" else KEYWORD_DICT_END
    return HEX_PAIR.sub(_hex_byte, SPC.sub(b"", value))


_stock_nexttoken = PSBaseParser.nexttoken


def nexttoken(self):
    """``PSBaseParser.nexttoken``: a whole token inside the buffer read at once, anything else by the stock state
    machine (for every pdfminer parser: content streams, objects, CMaps, font headers)."""
    buf, at = self.buf, self.charpos
    if self._tokens or self.eof or at >= len(buf) or self._parse1.__func__ is not PSBaseParser._parse_main:
        return _stock_nexttoken(self)
    match = _TOKEN.match(buf, at)
    if match is None:
        return _stock_nexttoken(self)
    kind = match.lastgroup
    token = _token(kind, match.group(kind))
    self.charpos = match.end()
    return self.bufpos + match.start(kind) - _OPENED.get(kind, 0), token


class FastContentParser(pdfinterp.PDFContentParser):
    def nextobject(self):
        """``PSStackParser.nextobject`` less its logging; outside an array, dictionary or inline image a plain token or
        an operator is returned as it comes (stock pushes it, flushes it to the results and pops it again)."""
        while not self.results:
            pos, token = self.nexttoken()
            if isinstance(token, _PLAIN) or (isinstance(token, PSKeyword) and token not in _STRUCTURE):
                if not self.context:
                    return pos, token
                if isinstance(token, PSKeyword):
                    self.do_keyword(pos, token)
                else:
                    self.curstack.append((pos, token))
                continue
            if token is KEYWORD_ARRAY_BEGIN:
                self.start_type(pos, "a")
            elif token is KEYWORD_ARRAY_END:
                self._end(lambda: self.push(self.end_type("a")))
            elif token is KEYWORD_DICT_BEGIN:
                self.start_type(pos, "d")
            elif token is KEYWORD_DICT_END:
                self._end(self._end_dict)
            elif token is KEYWORD_PROC_BEGIN:
                self.start_type(pos, "p")
            elif token is KEYWORD_PROC_END:
                self._end(lambda: self.push(self.end_type("p")))
            elif isinstance(token, PSKeyword):
                self.do_keyword(pos, token)
            else:
                self.do_keyword(pos, token)
                raise PSException
            if not self.context:
                self.flush()
        return self.results.pop(0)

    def _end(self, close) -> None:
        try:
            close()
        except PSTypeError:
            if settings.STRICT:
                raise

    def _end_dict(self) -> None:
        pos, objs = self.end_type("d")
        if len(objs) % 2 != 0:
            raise PSSyntaxError(f"Invalid dictionary construct: {objs!r}")
        self.push((pos, {literal_name(key): value for key, value in choplist(2, objs) if value is not None}))


def render_char(self, matrix, font, fontsize, scaling, rise, cid, ncs, graphicstate) -> float:
    """``PDFLayoutAnalyzer.render_char``, with ``LTChar.__init__`` written out for horizontal text."""
    try:
        text = font.to_unichr(cid)
        assert isinstance(text, str), str(type(text))
    except PDFUnicodeNotDefined:
        text = self.handle_undefined_char(font, cid)
    textwidth = font.char_width(cid)
    textdisp = font.char_disp(cid)
    if font.is_vertical():
        item = LTChar(matrix, font, fontsize, scaling, rise, text, textwidth, textdisp, ncs, graphicstate)
        self.cur_item.add(item)
        return item.adv
    item = LTChar.__new__(LTChar)
    item._text = text
    item.matrix = matrix
    item.fontname = font.fontname
    item.ncs = ncs
    item.graphicstate = graphicstate
    item.adv = adv = textwidth * fontsize * scaling
    descent = font.get_descent() * fontsize
    bottom, top = descent + rise, descent + rise + fontsize  # the box (0, bottom, adv, top) in text space
    a, b, c, d, e, f = matrix
    item.upright = a * d * scaling > 0 and b * c <= 0
    left1, bottom1 = a * 0 + c * bottom + e, b * 0 + d * bottom + f
    right1, bottom2 = a * adv + c * bottom + e, b * adv + d * bottom + f
    right2, top1 = a * adv + c * top + e, b * adv + d * top + f
    left2, top2 = a * 0 + c * top + e, b * 0 + d * top + f
    x0, x1 = min(left1, left2, right1, right2), max(left1, left2, right1, right2)
    y0, y1 = min(bottom1, bottom2, top1, top2), max(bottom1, bottom2, top1, top2)
    item.x0, item.y0, item.x1, item.y1 = x0, y0, x1, y1
    item.width, item.height = x1 - x0, y1 - y0
    item.bbox = (x0, y0, x1, y1)
    item.size = item.height
    self.cur_item.add(item)
    return adv


def add_to_line(self, obj) -> None:
    """``LTTextLineHorizontal.add`` with the containers' ``add`` and ``set_bbox`` it calls written out."""
    if isinstance(obj, LTChar) and self.word_margin:
        margin = self.word_margin * max(obj.width, obj.height)
        if self._x1 < obj.x0 - margin:
            self._objs.append(LTAnno(" "))
    self._x1 = obj.x1
    self._objs.append(obj)
    x0, y0 = min(self.x0, obj.x0), min(self.y0, obj.y0)
    x1, y1 = max(self.x1, obj.x1), max(self.y1, obj.y1)
    self.x0, self.y0, self.x1, self.y1 = x0, y0, x1, y1
    self.width, self.height = x1 - x0, y1 - y0
    self.bbox = (x0, y0, x1, y1)


_PATCHES = (
    (PSBaseParser, "nexttoken", nexttoken),
    (PDFLayoutAnalyzer, "render_char", render_char),
    (LTTextLineHorizontal, "add", add_to_line),
    (pdfinterp, "PDFContentParser", FastContentParser),
)


def active() -> bool:
    return pdfminer.__version__ == PDFMINER_VERSION


@contextmanager
def faster() -> Iterator[None]:
    """pdfminer runs with this module's functions in its classes inside the context (where the installed
    pdfminer.six is the version they were checked against)."""
    stock = [(owner, name, getattr(owner, name)) for owner, name, _ in _PATCHES]
    if active():
        for owner, name, ours in _PATCHES:
            setattr(owner, name, ours)
    try:
        yield
    finally:
        for owner, name, theirs in stock:
            setattr(owner, name, theirs)
