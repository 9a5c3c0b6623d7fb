"""unstructured's spaCy calls, batched. The one module that reaches into unstructured's internals for speed,
pinned to the version in setup.cfg (0.27.35); ``tests/test_nlp.py`` compares it with stock unstructured.

unstructured classifies each text (title or narrative text, by sentence counts, capitals and verbs) by running
spaCy's whole pipeline on it, one text at a time (``unstructured.nlp.tokenize._process``). ``batched(texts)`` runs
the pipeline over the distinct texts at once with ``nlp.pipe`` (2.5 times as fast on these cores, the same Docs)
and has unstructured's tokenizer take them from there; a text it was not given runs as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

_BATCH = 256


@contextmanager
def batched(texts: Iterable[str]) -> Iterator[None]:
    from unstructured.nlp import tokenize

    stock, nlp = tokenize._process, tokenize._get_nlp()
    distinct = [text for text in dict.fromkeys(map(str, texts)) if len(text) <= nlp.max_length]
    docs = dict(zip(distinct, nlp.pipe(distinct, batch_size=_BATCH), strict=True))

    def process(text: str):
        doc = docs.get(str(text))
        return doc if doc is not None else stock(text)

    tokenize._process = process
    try:
        yield
    finally:
        tokenize._process = stock
