"""Text coverage and the text layer, on generated PDFs with known defects and on unstructured's stock output."""

from __future__ import annotations

from unstructured.partition.pdf import partition_pdf

import pdfs
from conftest import FIXTURES
from ingest.config import PartitionConfig
from ingest.partition import partition_file
from ingest.partition.coverage import characters, measure
from ingest.partition.text_layer import elements_from_pages, page_texts


def test_characters_count_text_not_spacing_or_ligatures():
    assert characters("of ﬁve\tﬂags\n") == characters("offiveflags")
    assert sum(characters("  \x00\u200b \r\n").values()) == 0


def test_stock_fast_loses_a_page_that_the_measure_finds(tmp_path):
    pdf = pdfs.lost_page(tmp_path / "lost.pdf")
    pages = measure(page_texts(pdf), partition_pdf(filename=str(pdf), strategy="fast", languages=["eng"]))
    assert [page.lost for page in pages] == [False, True, False]
    assert pages[1].kept == 0 and pages[0].kept == pages[0].layer > 300


def test_the_lost_page_is_made_again_from_the_text_layer_in_page_order(tmp_path):
    pdf = pdfs.lost_page(tmp_path / "lost.pdf")
    done = partition_file(pdf, "lost.pdf", PartitionConfig(strategy="fast"))

    assert done.coverage.recovered_pages == (2,) and done.coverage.ratio == 1.0 and done.coverage.low_pages == ()
    assert [element.metadata.page_number for element in done.elements] == sorted(
        element.metadata.page_number for element in done.elements
    )
    page_two = [element for element in done.elements if element.metadata.page_number == 2]
    assert {element.metadata.text_source for element in page_two} == {"pdfium"}
    assert "Page 2: the quay at berth 2 handles grain" in page_two[0].text
    assert {element.metadata.text_source for element in done.elements} == {"pdfium", "unstructured"}
    assert len({element.id for element in done.elements}) == len(done.elements)


def test_text_layer_elements_carry_what_fast_elements_carry(tmp_path):
    pdf = pdfs.lost_page(tmp_path / "lost.pdf")
    made = elements_from_pages(pdf, [1, 3], "lost.pdf", ["eng"])
    again = elements_from_pages(pdf, [1, 3], "lost.pdf", ["eng"])

    assert [element.id for element in made] == [element.id for element in again]  # deterministic
    assert [element.metadata.page_number for element in made] == [1, 3]
    for element in made:
        metadata = element.metadata.to_dict()
        assert (metadata["filename"], metadata["filetype"], metadata["languages"]) == (
            "lost.pdf",
            "application/pdf",
            ["eng"],
        )
        (left, top), _, (right, bottom), _ = metadata["coordinates"]["points"]
        assert 0 <= left < right <= 612 and 0 <= top < bottom <= 792
        assert element.category == "NarrativeText"


def test_a_too_complex_text_pdf_is_read_from_its_text_layer_without_ocr(tmp_path):
    pdf = pdfs.too_complex(tmp_path / "complex.pdf")
    assert partition_pdf(filename=str(pdf), strategy="fast", languages=["eng"]) == []  # stock: nothing at all

    for strategy in ("fast", "auto"):
        done = partition_file(pdf, "complex.pdf", PartitionConfig(strategy=strategy))
        assert done.coverage.ratio == 1.0 and done.pages == 3
        assert done.coverage.recovered_pages == (1, 2, 3)  # every text page read from the text layer
        assert {element.metadata.text_source for element in done.elements} == {"pdfium"}  # no OCR


def test_no_text_is_empty_where_the_strategy_would_have_found_it(tmp_path):
    drawing, scan = pdfs.drawing(tmp_path / "drawing.pdf"), pdfs.blank_scan(tmp_path / "scan.pdf")
    assert partition_file(drawing, "drawing.pdf", PartitionConfig()).empty == (
        "no text layer, and OCR (strategy auto) found no text"
    )
    assert partition_file(scan, "scan.pdf", PartitionConfig()).empty
    blank = tmp_path / "blank.txt"
    blank.write_text("  \n\n\t ")
    assert partition_file(blank, "blank.txt", PartitionConfig()).empty == "the file is empty or holds only whitespace"


def test_glyphs_without_unicode_do_not_count_as_lost_text():
    """habibi.pdf's Arabic font has a broken ToUnicode map: pdfium's text layer holds four stray glyphs that no
    reader can call text. unstructured reads the Arabic right; its coverage must say so, and nothing is redone."""
    pdf = FIXTURES / "habibi.pdf"
    stock = partition_pdf(filename=str(pdf), strategy="fast", languages=["eng"])
    (page,) = measure(page_texts(pdf), stock)
    assert page.kept / page.layer < 0.8  # the plain text layer counts the stray glyphs

    done = partition_file(pdf, "habibi.pdf", PartitionConfig(strategy="fast"))
    assert done.coverage.ratio > 0.9 and done.coverage.recovered_pages == ()
    assert [element.text for element in done.elements] == [element.text for element in stock]
    assert {element.metadata.text_source for element in done.elements} == {"unstructured"}
