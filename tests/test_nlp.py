"""The batched spaCy calls, and spaCy on numpy's BLAS, give what stock unstructured gives, on real PDFs."""

from __future__ import annotations

import pytest
from unstructured.nlp import tokenize
from unstructured.partition.text import element_from_text

from conftest import EXAMPLES
from ingest.partition.nlp import batched, set_ops, use_numpy_blas
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


def fast_elements(path) -> list[tuple]:
    from unstructured.partition.pdf import partition_pdf

    forget()
    elements = partition_pdf(str(path), strategy="fast", languages=["eng"])
    return [(e.category, e.text, e.metadata.page_number, e.metadata.coordinates.points) for e in elements]


@pytest.mark.parametrize("name", ["reports/layout-parser-paper-fast.pdf", "reports/fake-memo.pdf"])
def test_spacy_on_numpys_blas_gives_stocks_elements(name):
    from thinc.api import NumpyOps
    from threadpoolctl import threadpool_info

    nlp = tokenize._get_nlp()
    set_ops(nlp, NumpyOps())  # stock: thinc's default, blis
    stock = fast_elements(EXAMPLES / name)
    use_numpy_blas(nlp)
    assert fast_elements(EXAMPLES / name) == stock and len(stock) > 4
    assert {type(layer.ops).__name__ for _, pipe in nlp.pipeline for layer in pipe.model.walk()} == {"NumpyOps"}
    assert not any(layer.ops.use_blis for _, pipe in nlp.pipeline for layer in pipe.model.walk())
    assert {pool["num_threads"] for pool in threadpool_info() if pool["internal_api"] == "openblas"} == {1}


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


@pytest.mark.slow
def test_spacy_on_numpys_blas_gives_stocks_elements_on_a_long_paper(corpus):
    from thinc.api import NumpyOps

    nlp = tokenize._get_nlp()
    set_ops(nlp, NumpyOps())
    stock = fast_elements(corpus / "pdf" / "multi-column.pdf")
    use_numpy_blas(nlp)
    assert fast_elements(corpus / "pdf" / "multi-column.pdf") == stock and len(stock) > 300
