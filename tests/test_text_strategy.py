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
from ingest.partition.nlp import by_rules
from ingest.partition.text_layer import elements_from_pages

PAPER = EXAMPLES / "reports" / "layout-parser-paper-fast.pdf"


def test_rules_type_most_blocks_as_spacy_does_and_are_undone():
    stock = text_type.sent_tokenize, text_type.word_tokenize, text_type.pos_tag
    spacy = elements_from_pages(PAPER, [1, 2], "paper.pdf", ["eng"])
    rules = elements_from_pages(PAPER, [1, 2], "paper.pdf", ["eng"], rules=True)

    assert [element.text for element in rules] == [element.text for element in spacy]
    assert [element.id for element in rules] == [element.id for element in spacy]  # ids depend on text and place
    pairs = [(a.category, b.category) for a, b in zip(spacy, rules, strict=True)]
    same = sum(a == b for a, b in pairs)
    assert same >= 0.85 * len(pairs), Counter(pair for pair in pairs if pair[0] != pair[1])
    assert {"Title", "NarrativeText"} <= {element.category for element in rules}
    assert (text_type.sent_tokenize, text_type.word_tokenize, text_type.pos_tag) == stock


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
            )
        ]
    assert kinds == ["Title", "NarrativeText", "NarrativeText", "ListItem", "UncategorizedText"]


def test_line_end_hyphens_and_a_glyph_without_unicode():
    """pdfium marks a hyphen that ends a line U+FFFE, a noncharacter, and joins the word's halves: it comes out as the
    hyphen (pdfminer, for `fast`, keeps the line break: "im- portant"). The paper's page 1 holds a glyph without
    Unicode, which pdfium leaves out of its text: the lines after it still get their own characters' boxes (a
    position in the text is mapped to the page's character)."""
    from unstructured.partition.pdf import partition_pdf

    cfg = PartitionConfig(strategy="text")
    check_prerequisites(cfg)
    ours = partition_file(PAPER, "paper.pdf", cfg).elements
    stock = partition_pdf(str(PAPER), strategy="fast", languages=["eng"])

    assert not any("\ufffe" in element.text for element in ours)
    assert any("easy reuse of im- portant" in element.text for element in stock)
    assert any("easy reuse of im-portant" in element.text for element in ours)
    heading = next(element for element in ours if element.text == "1 Introduction")
    fasts = next(element for element in stock if element.text == "Introduction")  # fast boxes the "1" apart
    assert heading.metadata.coordinates.points[2][0] == pytest.approx(fasts.metadata.coordinates.points[2][0], abs=1)


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
