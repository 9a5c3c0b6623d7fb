"""unstructured's spaCy calls, batched, and their matrix products on numpy's BLAS. The one module that reaches into
unstructured's internals for speed, pinned to the version in setup.cfg (0.27.35); ``tests/test_nlp.py`` compares
it with stock unstructured.

unstructured classifies each text (title or narrative text, by sentence counts, capitals and verbs) by running
spaCy's whole pipeline on it, one text at a time (``unstructured.nlp.tokenize._process``). ``batched(texts)`` runs
the pipeline over the distinct texts at once with ``nlp.pipe`` (2.5 times as fast on these cores, the same Docs)
and has unstructured's tokenizer take them from there; a text it was not given runs as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

_BATCH = 256


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
