"""unstructured's spaCy calls, batched, and their matrix products on numpy's BLAS; or answered by rules. The one
module that reaches into unstructured's internals for speed, pinned to the version in setup.cfg (0.27.35);
``tests/test_nlp.py`` and ``tests/test_faster_pdfminer.py`` compare it with stock unstructured
(``tests/test_text_strategy.py`` the rules).

unstructured classifies each text (title or narrative text, by sentence counts, capitals and verbs) by running
spaCy's whole pipeline on it, one text at a time (``unstructured.nlp.tokenize._process``). ``batched(texts)`` runs
the pipeline over the distinct texts at once with ``nlp.pipe`` (1.6 times as fast on these cores, the same Docs)
and has unstructured's tokenizer take them from there; a text it was not given runs as before.
``batched_by_page()`` does the same for unstructured's ``fast`` PDFs, a page at a time, with the texts foreseen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache

_BATCH = 256
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_WORD = re.compile(r"\w+|[^\w\s]")
_ZIP = re.compile(r"\d{5}").search  # unstructured's US city/state/zip pattern needs one, and a comma
_LETTERS = re.compile(r"[^\W\d_]+")
_VERB_WORDS = 8  # a text of this many words is taken to have a verb (spaCy's tagger nearly always finds one)
_FEW_WORDS = 5  # in a text shorter than this, a word that may be a noun is not taken for its verb
_AUXILIARIES = "is are was were be been being am has have had do does did can could will would shall should may must"


def use_numpy_blas(nlp) -> None:
    """Every layer of the spaCy pipeline computes with thinc's ``NumpyOps(use_blis=False)``: its matrix products go
    to numpy's OpenBLAS instead of blis, which on this project's AVX2 CPU is twice as fast for the tagger's and
    parser's shapes (one thread each: the same tags and parses, unstructured's ``fast`` 1.1-1.2x as fast). One
    BLAS thread per process, as the workers share the cores."""
    from thinc.api import NumpyOps
    from threadpoolctl import threadpool_limits

    set_ops(nlp, NumpyOps(use_blis=False))
    threadpool_limits(limits=1, user_api="blas")  # numpy's OpenBLAS (torch, loaded later, keeps its own)


def set_ops(nlp, ops) -> None:
    for _, pipe in nlp.pipeline:
        if hasattr(pipe, "model"):
            for layer in pipe.model.walk():
                layer.ops = ops


@contextmanager
def batched(texts: Iterable[str]) -> Iterator[None]:
    with _docs() as docs:
        docs.update(_piped(texts))
        yield


@contextmanager
def batched_by_page() -> Iterator[None]:
    """unstructured's ``fast`` PDF partitioning with each page's texts run through spaCy at once, as pdfminer hands
    the page over (``open_pdfminer_pages_generator``): the texts are those ``_pdfminer_page_elements`` is about to
    classify, found its own way; one it then classifies that was not foreseen runs as before."""
    from unstructured.partition import pdf

    stock = pdf.open_pdfminer_pages_generator

    def pages(*args, **kwargs):
        for page, layout in stock(*args, **kwargs):
            docs.clear()
            with suppress(Exception):  # a page it cannot foresee is classified as stock does it
                docs.update(_piped(_page_texts(layout)))
            yield page, layout

    with _docs() as docs:
        pdf.open_pdfminer_pages_generator = pages
        try:
            yield
        finally:
            pdf.open_pdfminer_pages_generator = stock


@contextmanager
def _docs() -> Iterator[dict]:
    """unstructured's tokenizer takes the Doc of a text from the dict yielded, where it is there."""
    from unstructured.nlp import tokenize

    stock, docs = tokenize._process, {}

    def process(text: str):
        doc = docs.get(str(text))
        return doc if doc is not None else stock(text)

    tokenize._process = process
    try:
        yield docs
    finally:
        tokenize._process = stock


def _piped(texts: Iterable[str]) -> dict:
    from unstructured.nlp.tokenize import _get_nlp

    nlp = _get_nlp()
    distinct = [text for text in dict.fromkeys(map(str, texts)) if len(text) <= nlp.max_length]
    return dict(zip(distinct, nlp.pipe(distinct, batch_size=_BATCH), strict=True))


def _page_texts(layout) -> Iterator[str]:
    """The texts that ``unstructured.partition.pdf._pdfminer_page_elements`` will classify with spaCy, in its own
    words: its texts of the page, less those ``element_from_text`` types without spaCy (by position, bullets,
    e-mail addresses, addresses, numbered lists, numbers)."""
    from unstructured.partition import pdf, text_type
    from unstructured.partition.text import _is_in_footer_position, _is_in_header_position

    space = pdf.PixelSpace(width=layout.width, height=layout.height)
    for obj in layout:
        if hasattr(obj, "get_text"):
            snippets = [pdf.get_text_with_deduplication(obj, pdf.env_config.PDF_CHAR_DUPLICATE_THRESHOLD)]
        else:
            snippets = re.split(pdf.PARAGRAPH_PATTERN, pdf._extract_text(obj))
        x1, y1, x2, y2 = pdf.rect_to_bbox(obj.bbox, layout.height)
        points = ((x1, y1), (x1, y2), (x2, y2), (x2, y1))
        if _is_in_header_position(points, space) or _is_in_footer_position(points, space):
            continue
        for snippet in snippets:
            text, _ = pdf.clean_extra_whitespace_with_index_run(snippet)
            if text.strip() and not (
                text.isnumeric()
                or text_type.is_bulleted_text(text)
                or text_type.is_email_address(text)
                or text_type.is_us_city_state_zip(text)
                or text_type.is_possible_numbered_list(text)
            ):
                yield text


@contextmanager
def by_rules() -> Iterator[None]:
    """unstructured's classifier (``element_from_text``) with its three spaCy calls answered by rules instead: sentences
    split after end punctuation, words by a regular expression, a verb found among the English verb forms of the
    spaCy model's own lemmatizer tables (or taken as there in a text of 8+ words, or of mostly non-English words, as
    unstructured takes it for a language other than English). About 10x cheaper than spaCy; 0.90 of the block types
    that spaCy's answers give (``benchmarks/fast_bench.py``). Its own checks are made cheaper, with the same
    answers: the share of letters counted at C speed; a text's sentences counted once for the two checks that count
    them; the US "City, ST 12345" pattern tried only on a text with a comma and five digits in a row (the pattern
    needs both; without, its regular expression backtracks through every word); its six settings read from a copy
    of the environment taken on entry rather than from the process's environment at every call."""
    import os
    from types import SimpleNamespace

    from unstructured.partition import text, text_type

    patched = [
        (text_type, "os", SimpleNamespace(environ=dict(os.environ))),  # it reads only os.environ
        (text_type, "sent_tokenize", _sentences),
        (text_type, "word_tokenize", _WORD.findall),
        (text_type, "pos_tag", _verb_tags),
        (text_type, "under_non_alpha_ratio", under_non_alpha_ratio),
        (text_type, "sentence_count", lru_cache(maxsize=1024)(text_type.sentence_count)),
        (
            text,
            "is_us_city_state_zip",
            lambda line, stock=text.is_us_city_state_zip: "," in line and _ZIP(line) and stock(line),
        ),
    ]
    stock = [(module, name, getattr(module, name)) for module, name, _ in patched]
    for module, name, rule in patched:
        setattr(module, name, rule)
    try:
        yield
    finally:
        for module, name, function in stock:
            setattr(module, name, function)


def under_non_alpha_ratio(text: str, threshold: float = 0.5) -> bool:
    """unstructured's own: whether letters are under ``threshold`` of the characters that are not whitespace."""
    total = len(text) - sum(map(str.isspace, text))
    return sum(map(str.isalpha, text)) / total < threshold if total else False


def _sentences(text: str) -> list[str]:
    return [sentence for sentence in _SENTENCE_END.split(text) if sentence.strip()]


def _verb_tags(text: str) -> list[tuple[str, str]]:
    """A "VB" tag when the text seems to hold a verb, else none: all that ``contains_verb`` reads of spaCy's tags.
    In a text of a few words, only a form that cannot be a noun or adjective counts ("Our approach" is a title)."""
    from unstructured.nlp.english_words import ENGLISH_WORDS

    words = _LETTERS.findall(text.lower())
    verbs, sure = verb_forms()
    if len(words) >= _VERB_WORDS or any(word in (sure if len(words) < _FEW_WORDS else verbs) for word in words):
        return [("", "VB")]
    if len(words) >= 4 and sum(word in ENGLISH_WORDS for word in words) < len(words) / 2:
        return [("", "VB")]
    return []


@lru_cache(maxsize=1)
def verb_forms() -> tuple[frozenset[str], frozenset[str]]:
    """English verbs in every regular form, the irregular ones, and the auxiliaries; and of those, the forms that
    are not also a noun or an adjective (-ing and -ed forms count as verbs). From the lookup tables of the installed
    en_core_web_sm's lemmatizer (WordNet's lemmas), read from the model's folder."""
    from spacy.lookups import Lookups
    from unstructured.nlp.tokenize import _get_nlp

    tables = Lookups().from_disk(_get_nlp().path / "lemmatizer" / "lookups")
    index = tables.get_table("lemma_index")
    lemmas = {lemma for lemma in index["verb"] if "_" not in lemma}
    others = set(index["noun"]) | set(index["adj"])
    forms, sure = set(_AUXILIARIES.split()), set(_AUXILIARIES.split())
    for lemma in lemmas:
        stem = lemma[:-1] if lemma[-1:] in "ey" else lemma
        inflected = {lemma + "d", lemma + "ed", lemma + "ing", stem + "ing"}
        plain = {lemma, lemma + "s", lemma + "es"} | ({stem + "ies", stem + "ied"} if lemma.endswith("y") else set())
        forms |= inflected | plain
        sure |= inflected | (set() if lemma in others else plain)
    irregular = {form for form, base in tables.get_table("lemma_exc")["verb"].items() if set(base) & lemmas}
    return frozenset(forms | irregular), frozenset(sure | irregular)
