"""Writers: where a document's results go. Storage holds the output files (a local folder or an S3 prefix,
``storage.py``) in the element-JSON format (``elements.py``); a VectorIndex holds the chunk vectors (one module per
store, one entry in VECTOR_INDEXES)."""

from __future__ import annotations

from ingest.config import IndexConfig
from ingest.writers.base import VectorIndex
from ingest.writers.chroma import ChromaIndex

VECTOR_INDEXES: dict[str, type[VectorIndex]] = {"chroma": ChromaIndex}


def make_index(cfg: IndexConfig) -> VectorIndex:
    return VECTOR_INDEXES[cfg.store](cfg)
