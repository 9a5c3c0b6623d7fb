"""A document's vectors: its chunks embedded, stored in the vector index, then its element JSON committed.

The one implementation of that step, whichever pool ran the document: the local run's index writer calls it with
the documents of one round (embedded together, across documents), a Celery worker with its task's one document.
Each process loads the embedding model and opens the collection once.
"""

from __future__ import annotations

import time
from functools import lru_cache

from ingest.config import IndexConfig, RunConfig
from ingest.embedding import Embedder, make_embedder, vectors_of
from ingest.errors import DocumentError
from ingest.models import DocumentRef, Embedded
from ingest.writers import make_index
from ingest.writers.base import VectorIndex
from ingest.writers.elements import commit, discard_pending, read_chunks
from ingest.writers.storage import storage_for


@lru_cache(maxsize=2)
def vector_index(cfg: IndexConfig) -> VectorIndex:
    """This process's handle on the index (connected on first use)."""
    return make_index(cfg)


@lru_cache(maxsize=2)
def embedder_for(model: str, device: str, backend: str, batch_size: int) -> Embedder:
    """This process's embedding model (loaded once)."""
    return make_embedder(model, device, backend, batch_size)


@lru_cache(maxsize=2)
def _opened(cfg: IndexConfig, vectors: str, dimension: int) -> VectorIndex:
    index = vector_index(cfg)
    index.open(vectors, dimension)
    return index


def load(cfg: IndexConfig) -> tuple[Embedder, VectorIndex]:
    """The embedding model and the open collection, loaded once per process; ConfigError when either cannot be."""
    embedder = embedder_for(cfg.model, cfg.device, cfg.backend, cfg.batch_size)
    return embedder, _opened(cfg, vectors_of(cfg.model, embedder.backend), embedder.dimension)


def store_vectors(run: RunConfig, documents: list[tuple[DocumentRef, list[dict]]]) -> list[DocumentError | None]:
    """Embed the chunk records of ``documents`` in one pass; then, per document, replace its chunks in the index and
    commit its pending element JSON. Returns each document's error (None when stored): a document whose vectors
    could not be stored keeps no pending output, so the next run redoes it.

    Nothing is embedded twice: a chunk text that the collection already holds for one of these documents (a
    changed document's unchanged chunks, a ``--reprocess`` with the same model) keeps its vector, and a text that
    comes more than once in the pass is embedded once. The collection holds one model's vectors (``open`` refuses
    another), so a text's vector is the same whichever chunk it came from."""
    store, cfg = storage_for(run), run.index
    try:
        embedder, index = load(cfg)
        texts = [record["text"] for _, records in documents for record in records]
        known = index.vectors([ref.source_url for ref, _ in documents])
        new = [text for text in dict.fromkeys(texts) if text not in known]
        known.update(zip(new, embedder.encode(new), strict=True))
        vectors = [known[text] for text in texts]
    except Exception as exc:  # noqa: BLE001 - every document of this pass fails; the caller goes on
        for ref, _ in documents:
            discard_pending(store, ref.rel_path)
        return [index_error(exc, cfg, "index")] * len(documents)
    errors: list[DocumentError | None] = []
    offset = 0
    for ref, records in documents:
        try:
            index.replace(ref.source_url, records, vectors[offset : offset + len(records)])
            commit(store, ref.rel_path)
            errors.append(None)
        except Exception as exc:  # noqa: BLE001 - one document's failure is a result
            discard_pending(store, ref.rel_path)
            errors.append(index_error(exc, cfg, "index"))
        offset += len(records)
    return errors


def embed_slice(run: RunConfig, ref: DocumentRef, chunks: tuple[int, int]) -> Embedded:
    """Under Celery, one slice of a document with many chunks: its texts embedded (those the collection holds
    for the document already keep their vectors) and upserted under their final ids, read from the document's chunk
    file. ``store_from_file`` then finds every vector in the collection and embeds nothing. Raises on failure."""
    started = time.monotonic()
    embedder, index = load(run.index)
    records = read_chunks(storage_for(run), ref.rel_path)[chunks[0] : chunks[1]]
    known = index.vectors([ref.source_url])
    new = [text for text in dict.fromkeys(record["text"] for record in records) if text not in known]
    known.update(zip(new, embedder.encode(new), strict=True))
    index.upsert(records, [known[record["text"]] for record in records])
    return Embedded(ref, chunks, len(new), time.monotonic() - started)


def store_from_file(run: RunConfig, ref: DocumentRef) -> DocumentError | None:
    """``store_vectors`` of a document whose chunk records are in its chunk file (its embed tasks are done)."""
    try:
        records = read_chunks(storage_for(run), ref.rel_path)
    except Exception as exc:  # noqa: BLE001 - the document fails; its pending output goes
        discard_pending(storage_for(run), ref.rel_path)
        return DocumentError(str(exc), "index", type(exc).__name__)
    return store_vectors(run, [(ref, records)])[0]


def delete_vectors(cfg: IndexConfig, source: str) -> DocumentError | None:
    """Remove every chunk of ``source``; its error, or None."""
    try:
        vector_index(cfg).delete(source)
    except Exception as exc:  # noqa: BLE001 - one document's failure is a result
        return index_error(exc, cfg, "delete")
    return None


def index_error(exc: Exception, cfg: IndexConfig, stage: str) -> DocumentError:
    """A document whose vectors could not be stored (or removed), in words a user can act on."""
    if isinstance(exc, DocumentError):
        return exc
    return DocumentError(vector_index(cfg).explain(exc), stage, type(exc).__name__)
