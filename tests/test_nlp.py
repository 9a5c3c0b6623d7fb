"""The batched spaCy calls give what stock unstructured gives, text by text, on a real PDF's blocks."""

from __future__ import annotations

import pytest
from unstructured.nlp import tokenize
from unstructured.partition.text import element_from_text

from conftest import EXAMPLES
from ingest.partition.nlp import batched
from ingest.partition.text_layer import elements_from_pages

PAPER = EXAMPLES / "reports" / "layout-parser-paper-fast.pdf"


def forget() -> None:
    """unstructured's own caches emptied, so each side runs spaCy itself."""
    for cached in (tokenize._process_cached, tokenize.word_tokenize, tokenize.pos_tag, tokenize._tokenize_for_cache):
        cached.cache_clear()


def classified(texts: list[str]) -> list[tuple[str, list, list, list]]:
    return [
        (
            type(element_from_text(text)).__name__,
            tokenize.sent_tokenize(text),
            tokenize.word_tokenize(text),
            tokenize.pos_tag(text),
        )
        for text in texts
    ]


def test_batched_classification_equals_stock():
    texts = [element.text for element in elements_from_pages(PAPER, [1, 2], "paper.pdf", ["eng"])]
    forget()
    stock = classified(texts)
    forget()
    with batched(texts):
        ours = classified(texts)
    assert len(texts) > 10 and {kind for kind, *_ in stock} >= {"Title", "NarrativeText"}
    assert ours == stock


def test_texts_not_given_run_as_before_and_the_patch_is_undone():
    stock = tokenize._process
    forget()
    with batched(["One sentence here."]):
        assert tokenize.sent_tokenize("Not given. Two sentences.") == ["Not given.", "Two sentences."]
    assert tokenize._process is stock


@pytest.mark.slow
def test_batched_classification_equals_stock_on_a_long_german_pdf(corpus):
    texts = [
        element.text
        for element in elements_from_pages(
            corpus / "pdf" / "GeoTopo-komprimiert.pdf", list(range(1, 31)), "g.pdf", ["eng"]
        )
    ]
    forget()
    stock = classified(texts)
    forget()
    with batched(texts):
        assert classified(texts) == stock
