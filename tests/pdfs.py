"""Small PDFs with specific defects, written byte by byte (Helvetica, no embedded fonts), for the fidelity tests."""

from __future__ import annotations

import zlib
from pathlib import Path

LINES = [
    "Page {page}: the quay at berth {page} handles grain and timber every day.",
    "Ships for berth {page} wait in the roads for the evening tide.",
]


def _pdf(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer << /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _stream(data: bytes) -> bytes:
    packed = zlib.compress(data)
    return b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(packed), packed)


def _text(page: int, repeat: int = 5) -> bytes:
    lines = [line.format(page=page).encode() for line in LINES] * repeat
    return b"BT /F1 11 Tf 14 TL 72 720 Td " + b" ".join(b"(%s) Tj T*" % line for line in lines) + b" ET\n"


def write(path: Path, contents: list[bytes], boxes: list[bytes] | None = None) -> Path:
    """A PDF of one page per content stream, with Helvetica as /F1; ``boxes``: each page's box entries (a
    portrait letter page by default)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for content, box in zip(contents, boxes or [b"/MediaBox [0 0 612 792]"] * len(contents), strict=True):
        objects.append(_stream(content))
        objects.append(
            b"<< /Type /Page /Parent 2 0 R %s /Contents %d 0 R "
            b"/Resources << /Font << /F1 3 0 R >> >> >>" % (box, len(objects))
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    path.write_bytes(_pdf(objects))
    return path


def turned(path: Path) -> Path:
    """Landscape pages made as portrait ones turned by /Rotate 90, 180 and 270, their text drawn turned back so that
    it reads across the page as shown (72 pt from the left, its first baseline 90 pt from the top), then a portrait
    page whose crop box leaves 36 pt of the media box out on every side (its text 36 pt from the crop box's corner).
    """
    turns = {0: b"1 0 0 1 72 702", 90: b"0 1 -1 0 90 72", 180: b"-1 0 0 -1 540 90", 270: b"0 -1 1 0 522 720"}
    contents = [
        b"BT /F1 11 Tf 14 TL %s Tm " % turns[turn]
        + b" ".join(b"(%s) Tj T*" % line.format(page=page).encode() for line in LINES * 3)
        + b" ET\n"
        for page, turn in enumerate((90, 180, 270, 0), 1)
    ]
    boxes = [b"/MediaBox [0 0 612 792] /Rotate %d" % turn for turn in (90, 180, 270)]
    boxes.append(b"/MediaBox [0 0 612 792] /CropBox [36 36 576 756]")
    return write(path, contents, boxes)


def lost_page(path: Path) -> Path:
    """Three text pages; page 2 opens with an 8-byte inline image whose data holds ``EI (``: pdfium reads the
    8 bytes it is told of, pdfminer ends the image early and takes the rest of the page for a string, so
    unstructured returns nothing for page 2, silently."""
    image = b"q 8 0 0 1 72 750 cm BI /W 8 /H 1 /BPC 8 /CS /G ID \x00 EI (\x01\x02 EI Q\n"
    return write(path, [_text(1), image + _text(2), _text(3)])


def too_complex(path: Path) -> Path:
    """Three text pages, the last also a dense line drawing: unstructured judges the whole PDF too complex for its
    text extraction (more than 10,000 graphics operators on a page)."""
    drawing = b"".join(b"%d %d m %d %d l S\n" % (i % 500, i % 700, i % 500 + 3, i % 700 + 2) for i in range(12_000))
    return write(path, [_text(1), _text(2), _text(3) + drawing])


def drawing(path: Path) -> Path:
    """One page of vector drawing and no text at all."""
    return write(path, [b"".join(b"%d 100 m %d 700 l S\n" % (x, x) for x in range(50, 560, 10))])


def blank_scan(path: Path) -> Path:
    """One page holding only a white grayscale image, as a scanner makes of a blank sheet."""
    white = zlib.compress(b"\xff" * 200 * 260)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [5 0 R] /Count 1 >>",
        b"<< /Type /XObject /Subtype /Image /Width 200 /Height 260 /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream" % (len(white), white),
        _stream(b"q 612 0 0 792 0 0 cm /Im1 Do Q"),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /XObject << /Im1 3 0 R >> >> >>",
    ]
    path.write_bytes(_pdf(objects))
    return path


def scanned_second_page(path: Path) -> Path:
    """Two pages: page 1 with a text layer, page 2 a scan of the same kind of page (an image, no text layer)."""
    import pypdfium2

    source = pypdfium2.PdfDocument(str(write(path.with_suffix(".source.pdf"), [_text(1), _text(2)])))
    scan = path.with_suffix(".scan.pdf")
    source[1].render(scale=200 / 72).to_pil().convert("L").save(scan, "PDF", resolution=200)
    combined = pypdfium2.PdfDocument.new()
    combined.import_pages(source, [0])
    combined.import_pages(pypdfium2.PdfDocument(str(scan)))
    combined.save(str(path))
    return path


def table_page(path: Path) -> Path:
    """A page as a typesetter draws one: a title, a table whose rows are each one run of text with its cells set
    apart by kerning (as LaTeX draws its tables and contents pages), columns 95 pt apart, and two paragraphs drawn
    bottom one first."""
    from pdfminer.fontmetrics import FONT_METRICS

    widths = FONT_METRICS["Helvetica"][1]

    def row(*cells: str) -> bytes:  # kerned so that each cell starts 95 pt after the one before
        parts = [
            b"(%s) %d" % (cell.encode(), -(95 - sum(widths[c] for c in cell) * 11 / 1000) * 1000 / 11) for cell in cells
        ]
        return b"[%s] TJ T*" % b" ".join(parts)

    table = (
        row("Country", "Capital", "Area") + row("Austria", "Vienna", "83,879") + row("Belgium", "Brussels", "30,689")
    )
    content = b"BT /F1 16 Tf 72 700 Td (Countries of Europe) Tj ET\n"
    content += b"BT /F1 11 Tf 14 TL 72 640 Td " + table + b" ET\n"
    paragraphs = [
        (400, "The second paragraph comes last on the page but first in the file.", "Its two lines."),
        (520, "The first paragraph follows the table and tells what it holds.", "It has two lines."),
    ]
    for y, first, second in paragraphs:
        content += b"BT /F1 11 Tf 14 TL 72 %d Td (%s) Tj T* (%s) Tj ET\n" % (y, first.encode(), second.encode())
    return write(path, [content])


def right_to_left(path: Path) -> Path:
    """Right-to-left text drawn as producers draw it, glyphs left to right across the page (Helvetica's glyphs stand
    in, a ToUnicode map gives their letters): the Arabic "سلام" with a lam-alef ligature (one glyph for "لا"), a line
    of English holding the Hebrew "שלום עולם" (two words), and those two words alone."""
    letters = {"A": "ש", "B": "ל", "C": "ו", "D": "ם", "E": "ע", "M": "م", "L": "لا", "S": "س"}
    bfchar = b"".join(
        b"<%02X> <%s>\n" % (ord(code), text.encode("utf-16-be").hex().encode()) for code, text in letters.items()
    )
    cmap = (
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /Letters def "
        b"1 begincodespacerange <00> <FF> endcodespacerange %d beginbfchar\n%sendbfchar endcmap "
        b"CMapName currentdict /CMap defineresource pop end end" % (len(letters), bfchar)
    )
    # drawn left to right: "سلام" is meem, lam-alef, seen; "שלום עולם" is final mem, lamed, vav, ayin, then
    # the first word
    content = b"BT /F1 14 Tf 72 700 Td (MLS) Tj 0 -40 Td (say: DBCE DCBA to all) Tj 0 -40 Td (DBCE DCBA) Tj ET\n"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [6 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 4 0 R >>",
        _stream(cmap),
        _stream(content),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R "
        b"/Resources << /Font << /F1 3 0 R >> >> >>",
    ]
    path.write_bytes(_pdf(objects))
    return path


def filled_form(path: Path) -> Path:
    """An A4 page whose media box it inherits from the page tree, with a label drawn on it and three form fields
    filled in: a text field, a choice field and a check box (a filled field's value is drawn from its widget, not
    the page's content)."""
    fields = [
        b"/FT /Tx /T (name) /V (Alice Example) /Rect [150 740 330 760]",
        b"/FT /Ch /T (colour) /Opt [(Red) (Green)] /V (Green) /Rect [150 700 330 720]",
        b"/FT /Btn /T (agree) /V /Yes /AS /Yes /Rect [150 660 170 680]",
    ]
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [5 0 R 6 0 R 7 0 R] >> >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 /MediaBox [0 0 595.28 841.89] >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Page /Parent 2 0 R /Contents 8 0 R /Annots [5 0 R 6 0 R 7 0 R] "
        b"/Resources << /Font << /F1 3 0 R >> >> >>",
        *(b"<< /Type /Annot /Subtype /Widget /P 4 0 R %s >>" % field for field in fields),
        _stream(b"BT /F1 12 Tf 72 745 Td (Name:) Tj 0 -40 Td (Colour:) Tj 0 -40 Td (Agreed:) Tj ET\n"),
    ]
    path.write_bytes(_pdf(objects))
    return path


def scaled_text(path: Path) -> Path:
    """Two lines drawn at a size other than the one set: at 1 pt scaled up twelve times by the text matrix (as many
    producers draw all their text), and at 12 pt on a page shrunk to three quarters (a table shrunk to fit)."""
    return write(
        path,
        [
            b"BT /F1 1 Tf 12 0 0 12 72 700 Tm (Drawn at one point and scaled up twelve times.) Tj ET\n"
            b"q 0.75 0 0 0.75 0 0 cm BT /F1 12 Tf 96 800 Td (Drawn at twelve points, shrunk to three quarters.) Tj "
            b"ET Q\n"
        ],
    )
