"""`--strategy text`: PDFs read from pdfium's text layer in one pass, blocks typed by rules instead of spaCy, pages
without a text layer OCR'd; from the command line as a user runs it."""

from __future__ import annotations

from collections import Counter

import pytest
from unstructured.partition import text_type
from unstructured.staging.base import elements_from_json

import pdfs
from conftest import EXAMPLES, summary
from ingest.config import PartitionConfig
from ingest.errors import DocumentError
from ingest.partition import check_prerequisites, partition_file
from ingest.partition.nlp import by_rules, under_non_alpha_ratio
from ingest.partition.text_layer import elements_from_pages, page_texts

PAPER = EXAMPLES / "reports" / "layout-parser-paper-fast.pdf"


def test_rules_type_most_blocks_as_spacy_does_and_are_undone():
    from unstructured.partition import text

    patched = ("os", "sent_tokenize", "word_tokenize", "pos_tag", "under_non_alpha_ratio", "sentence_count")
    stock = [getattr(text_type, name) for name in patched], text.is_us_city_state_zip
    spacy = elements_from_pages(PAPER, [1, 2], "paper.pdf", ["eng"])
    rules = elements_from_pages(PAPER, [1, 2], "paper.pdf", ["eng"], rules=True)

    assert [element.text for element in rules] == [element.text for element in spacy]
    assert [element.id for element in rules] == [element.id for element in spacy]  # ids depend on text and place
    pairs = [(a.category, b.category) for a, b in zip(spacy, rules, strict=True)]
    same = sum(a == b for a, b in pairs)
    assert same >= 0.85 * len(pairs), Counter(pair for pair in pairs if pair[0] != pair[1])
    assert {"Title", "NarrativeText"} <= {element.category for element in rules}
    assert ([getattr(text_type, name) for name in patched], text.is_us_city_state_zip) == stock


def test_rules_read_unstructureds_settings_from_the_environment_as_it_was_on_entry(monkeypatch):
    """The classifier reads its settings (UNSTRUCTURED_*) from the environment at every call; under the rules, from
    a copy taken on entry: a setting made before is honoured."""
    title = "Harbour Works And Quays"
    with by_rules():
        assert text_type.is_possible_title(title)
    monkeypatch.setenv("UNSTRUCTURED_TITLE_MAX_WORD_LENGTH", "3")
    assert not text_type.is_possible_title(title)  # stock
    with by_rules():
        assert not text_type.is_possible_title(title)


def test_the_letter_ratio_counted_at_c_speed_answers_as_unstructureds():
    texts = [element.text for element in elements_from_pages(PAPER, list(range(1, 17)), "paper.pdf", ["eng"])]
    texts += ["", "   ", "-----BREAK-----", "ab 12", "Ⅻ ½ ²", "naïve café", "\u00a0x\u2003", "٣ شارع"]
    for text in texts:
        for threshold in (0.3, 0.5, 0.75):
            assert under_non_alpha_ratio(text, threshold) == text_type.under_non_alpha_ratio(text, threshold), text


def test_rules_tell_the_plain_cases():
    from unstructured.partition.text import element_from_text

    with by_rules():
        kinds = [
            element_from_text(text).category
            for text in (
                "Annual report",
                "The harbour handles grain and timber. Ships wait in the roads for the tide.",
                "The committee approved the budget for the coming year without changes",
                "• first item of a list",
                "42",
                "Doylestown, PA 18901",
            )
        ]
    assert kinds == ["Title", "NarrativeText", "NarrativeText", "ListItem", "UncategorizedText", "Address"]


def test_line_end_hyphens_wide_gaps_and_a_glyph_without_unicode():
    """pdfium marks a hyphen that ends a line U+FFFE, a noncharacter, and joins the next line to it: the line is
    parted there again, as pdfminer (for `fast`) keeps it ("im- portant"). A heading's number set apart by a wide gap
    is boxed apart, as `fast` boxes it. The paper's page 1 holds a glyph without Unicode, which pdfium leaves out of
    its text: the lines after it still get their own characters' boxes (a position in the text is mapped to the
    page's character)."""
    from unstructured.partition.pdf import partition_pdf

    cfg = PartitionConfig(strategy="text")
    check_prerequisites(cfg)
    ours = partition_file(PAPER, "paper.pdf", cfg).elements
    stock = partition_pdf(str(PAPER), strategy="fast", languages=["eng"])

    assert not any("\ufffe" in element.text for element in ours)
    for elements in (stock, ours):
        assert any("easy reuse of im- portant" in element.text for element in elements)
    for text in ("1", "Introduction"):  # the heading "1 Introduction", as two elements
        fasts = next(e for e in stock if e.text == text and e.metadata.coordinates.points[0][1] > 600)
        heading = next(e for e in ours if e.text == text and e.metadata.coordinates.points[0][1] > 600)
        for corner in (0, 2):  # left and right edges
            assert heading.metadata.coordinates.points[corner][0] == pytest.approx(
                fasts.metadata.coordinates.points[corner][0], abs=1.5
            )


def test_turned_pages_boxed_as_they_are_shown_like_fast(tmp_path):
    """Pages turned by /Rotate (a landscape page is often a portrait one turned) and a page with a crop box: each
    block's box on the page as it is shown, in `fast`'s frame (pdfminer's: the media box), within a point of stock
    `fast`'s, in a coordinate system of the page's shown size (pdfium gives boxes in the page's unturned space)."""
    from unstructured.partition.pdf import partition_pdf

    pdf = pdfs.turned(tmp_path / "turned.pdf")
    cfg = PartitionConfig(strategy="text")
    check_prerequisites(cfg)
    ours = partition_file(pdf, "turned.pdf", cfg).elements
    stock = partition_pdf(str(pdf), strategy="fast", languages=["eng"])

    assert [element.metadata.page_number for element in ours] == [1, 2, 3, 4]
    for mine, theirs in zip(ours, stock, strict=True):
        assert mine.text == theirs.text
        system, expected = mine.metadata.coordinates.system, theirs.metadata.coordinates.system
        assert (system.width, system.height) == pytest.approx((expected.width, expected.height))
        for point, other in zip(mine.metadata.coordinates.points, theirs.metadata.coordinates.points, strict=True):
            assert point == pytest.approx(other, abs=1.0)


def test_right_to_left_text_reads_as_written(tmp_path):
    """pdfium turns right-to-left runs round to read them, but also a glyph's own characters (a lam-alef ligature,
    "لا", comes out "ال") and, in a line that holds English too, each word alone, leaving the words in drawing
    order. The text strategy reads them as written; a line of Hebrew alone, which pdfium reads right, is kept. The
    first assertion is pdfium's own reading: when an upgrade mends it, this test says so."""
    pdf = pdfs.right_to_left(tmp_path / "rtl.pdf")
    assert page_texts(pdf) == ["سالم\r\nsay: עולם שלום to all\r\nשלום עולם"]
    cfg = PartitionConfig(strategy="text")
    check_prerequisites(cfg)
    done = partition_file(pdf, "rtl.pdf", cfg)

    assert [element.text for element in done.elements] == ["سلام", "say: שלום עולם to all", "שלום עולם"]
    assert done.coverage.ratio == 1.0


def test_filled_form_fields_and_an_inherited_media_box_as_fast_gives_them(tmp_path):
    """A filled text or choice field's value is drawn from its widget, not the page's content, so pdfium's text
    leaves it out: it is added as `fast` adds it (a check box's is not). The page inherits its A4 media box from the
    page tree, which pdfium does not give as the page's own: boxes are still on the page as shown, as in `fast`."""
    from unstructured.partition.pdf import partition_pdf

    pdf = pdfs.filled_form(tmp_path / "form.pdf")
    cfg = PartitionConfig(strategy="text")
    check_prerequisites(cfg)
    ours = partition_file(pdf, "form.pdf", cfg).elements
    stock = partition_pdf(str(pdf), strategy="fast", languages=["eng"])

    assert [element.text for element in ours] == ["Name:", "Colour:", "Agreed:", "Alice Example", "Green"]
    for mine, theirs in zip(ours, stock, strict=True):
        assert mine.text == theirs.text
        system = mine.metadata.coordinates.system
        assert (system.width, system.height) == pytest.approx((595.28, 841.89))
        for point, other in zip(mine.metadata.coordinates.points, theirs.metadata.coordinates.points, strict=True):
            assert point == pytest.approx(other, abs=1.5)


def test_lines_as_high_as_their_font_drawn_scaled_as_fast_boxes_them(tmp_path):
    """pdfminer's lines are as high as their font's size as drawn; pdfium gives the size as set: text set at 1 pt
    and scaled up by its matrix, and text on a page shrunk to three quarters, are boxed as `fast` boxes them."""
    from unstructured.partition.pdf import partition_pdf

    pdf = pdfs.scaled_text(tmp_path / "scaled.pdf")
    cfg = PartitionConfig(strategy="text")
    check_prerequisites(cfg)
    ours = partition_file(pdf, "scaled.pdf", cfg).elements
    stock = partition_pdf(str(pdf), strategy="fast", languages=["eng"])

    assert [element.text for element in ours] == [element.text for element in stock]
    assert len(ours) == 2
    for mine, theirs in zip(ours, stock, strict=True):
        corners = zip(mine.metadata.coordinates.points, theirs.metadata.coordinates.points, strict=True)
        for (x, y), (x_fast, y_fast) in corners:
            assert y == pytest.approx(y_fast, abs=0.5)  # 1 pt and 3 pt off before
            assert x == pytest.approx(x_fast, abs=1.5)  # the glyphs drawn, not their advances: a side bearing


def test_every_text_page_from_the_layer_and_the_scanned_one_by_ocr(tmp_path):
    pdf = pdfs.scanned_second_page(tmp_path / "mixed.pdf")
    cfg = PartitionConfig(strategy="text")
    check_prerequisites(cfg)
    done = partition_file(pdf, "mixed.pdf", cfg)

    by_page = {
        number: [element for element in done.elements if element.metadata.page_number == number] for number in (1, 2)
    }
    assert {element.metadata.text_source for element in by_page[1]} == {"pdfium"}
    assert {element.metadata.text_source for element in by_page[2]} == {"unstructured"}  # tesseract's
    assert "Page 1: the quay at berth 1 handles grain" in by_page[1][0].text
    assert "berth 2" in " ".join(element.text for element in by_page[2])
    assert done.coverage.ratio == 1.0 and done.coverage.recovered_pages == () and done.pages == 2


def test_strategy_text_from_the_command_line(tmp_path, ingest):
    docs = tmp_path / "docs"
    docs.mkdir()
    pdfs.scanned_second_page(tmp_path / "mixed.pdf").rename(docs / "mixed.pdf")
    (docs / "paper.pdf").write_bytes(PAPER.read_bytes())
    (docs / "notes.md").write_text("# Harbour\n\nThe quay handles grain.\n")
    out = tmp_path / "out"

    first = ingest("--local-path", str(docs), "--strategy", "text")
    assert first.exit_code == 0, first.output
    assert summary(first).startswith("ingest: 3 processed, 0 skipped, 0 failed")
    paper = elements_from_json(filename=str(out / "paper.pdf.json"))
    assert {element.metadata.text_source for element in paper} == {"pdfium"}
    assert sorted({element.metadata.page_number for element in paper}) == [1, 2]
    assert elements_from_json(filename=str(out / "notes.md.json"))[0].text == "Harbour"
    assert (out / "paper.pdf.chunks.jsonl").read_text().count("\n") > 10  # chunked like any other

    again = ingest("--local-path", str(docs), "--strategy", "text")
    assert summary(again).startswith("ingest: 0 processed, 3 skipped")
    other = ingest("--local-path", str(docs), "--strategy", "fast")  # other elements: the settings hash says so
    assert summary(other).startswith("ingest: 3 processed, 0 skipped"), other.output

    refused = ingest("--local-path", str(docs), "--strategy", "text", "--extract-images")
    assert refused.exit_code == 2 and "--strategy text does not run" in refused.output


def test_encrypted_and_damaged_pdfs_say_so(corpus):
    cfg = PartitionConfig(strategy="text")
    check_prerequisites(cfg)
    bad = corpus / "bad"
    with pytest.raises(DocumentError) as encrypted:
        partition_file(bad / "password.pdf", "password.pdf", cfg)
    assert encrypted.value.error_type == "EncryptedPDF"
    with pytest.raises(DocumentError) as damaged:  # its one page has no text layer and cannot be copied out for OCR
        partition_file(bad / "poppler-937-0-fuzzed.pdf", "fuzzed.pdf", cfg)
    assert (damaged.value.error_type, damaged.value.message) == (
        "CorruptPDF",
        "the PDF is damaged: pdfium cannot copy out page 1 (Failed to import pages.)",
    )
    partly = partition_file(bad / "Pages-tree-refs.pdf", "refs.pdf", cfg)  # page 1 has text, page 2 is broken
    assert {element.metadata.page_number for element in partly.elements} == {1}
    assert partly.unread == (
        "no text layer, not OCR'd: the PDF is damaged: pdfium cannot copy out page 2 (Failed to import pages.)",
    )


def test_kerned_table_cells_and_paragraphs_drawn_out_of_order_come_out_as_fast_gives_them(tmp_path):
    """A table whose rows are each one run of text, cells kerned apart (LaTeX's way), is read column by column as
    pdfminer boxes it for `fast`; paragraphs drawn bottom one first are put in reading order by the same XY-cut."""
    from unstructured.partition.pdf import partition_pdf

    path = pdfs.table_page(tmp_path / "table.pdf")
    cfg = PartitionConfig(strategy="text")
    check_prerequisites(cfg)
    ours = partition_file(path, "table.pdf", cfg).elements
    stock = partition_pdf(str(path), strategy="fast", languages=["eng"])

    assert [(e.category, e.text) for e in ours] == [(e.category, e.text) for e in stock]
    assert ours[1].text == "Country Austria Belgium"
    for mine, fasts in zip(ours, stock, strict=True):
        corners = zip(mine.metadata.coordinates.points, fasts.metadata.coordinates.points, strict=True)
        for (x, y), (fast_x, fast_y) in corners:
            assert (x, y) == (pytest.approx(fast_x, abs=2), pytest.approx(fast_y, abs=3))


def test_reading_order_is_unstructureds_xy_cut_and_keeps_what_it_drops(corpus):
    """The blocks of real pages ordered by `text_layer._reading_order` and by unstructured's `sort_page_elements`
    (what orders `fast`'s elements): the same order on every page of up to 16 blocks (numpy sorts those stably, as
    Python does; past that, ties may come out either way). Where unstructured drops a block that shrinks to nothing
    (a lone full stop), ours keeps it, after the block drawn before it."""
    import pypdfium2
    from unstructured.documents.coordinates import PixelSpace
    from unstructured.documents.elements import Text
    from unstructured.partition.utils.sorting import sort_page_elements

    from ingest.partition.text_layer import _page_blocks, _reading_order

    def stock_order(blocks: list) -> list[int]:
        made = [Text(text, coordinates=points, coordinate_system=PixelSpace(*size)) for _, size, text, points in blocks]
        places = {id(element): place for place, element in enumerate(made)}
        return [places[id(element)] for element in sort_page_elements(list(made))]

    compared = 0
    for path in sorted((corpus / "pdf").glob("*.pdf")):
        try:
            pdf = pypdfium2.PdfDocument(str(path))
        except pypdfium2.PdfiumError:
            continue
        for number in range(1, min(len(pdf), 20) + 1):
            blocks = _page_blocks(pdf, number)[1]
            ours = _reading_order([points for *_, points in blocks])
            assert sorted(ours) == list(range(len(blocks)))
            if len(blocks) <= 16:
                stock = stock_order(blocks)
                assert [index for index in ours if index in stock] == stock, (path.name, number)
                compared += 1
        pdf.close()
    assert compared > 100

    def block(left: float, top: float, right: float, bottom: float, text: str) -> tuple:
        return 1, (612, 792), text, ((left, top), (left, bottom), (right, bottom), (right, top))

    page = [block(300, 100, 500, 120, "Right"), block(72, 100, 250, 120, "Left"), block(250, 90, 250.5, 95, ".")]
    assert stock_order(page) == [1, 0]  # unstructured drops the full stop
    assert _reading_order([points for *_, points in page]) == [1, 2, 0]  # after "Left", drawn before it
