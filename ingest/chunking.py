"""unstructured's chunkers, and the chunk records that are written beside the element JSON and indexed."""

from __future__ import annotations

import hashlib

from ingest.config import ChunkConfig
from ingest.models import DocumentRef


def chunk(elements: list, cfg: ChunkConfig) -> list:
    """Chunks as unstructured makes them; with ``none``, every element with text is a chunk of its own."""
    if cfg.strategy == "none":
        return [element for element in elements if element.text.strip()]
    from unstructured.chunking.basic import chunk_elements
    from unstructured.chunking.title import chunk_by_title

    options = {"max_characters": cfg.max_characters, "overlap": cfg.overlap}
    if cfg.strategy == "by_title":
        options["combine_text_under_n_chars"] = cfg.combine_text_under
        return chunk_by_title(elements, **{k: v for k, v in options.items() if v is not None})
    return chunk_elements(elements, **{k: v for k, v in options.items() if v is not None})


def validate(cfg: ChunkConfig) -> None:
    """Raise ValueError, with unstructured's own message, for settings its chunkers refuse."""
    from unstructured.documents.elements import NarrativeText

    chunk([NarrativeText("A sentence to chunk.")], cfg)


def chunk_id(source_url: str, index: int) -> str:
    """Deterministic: the document's URL and the chunk's position. A redone document overwrites its own ids."""
    return f"{hashlib.sha256(source_url.encode()).hexdigest()[:24]}-{index:05d}"


def chunk_records(chunks: list, ref: DocumentRef, fingerprint: str) -> list[dict]:
    """One record per chunk: id, text and scalar metadata named as LangChain and unstructured name them."""
    records = []
    for index, chunk_element in enumerate(chunks):
        originals = chunk_element.metadata.orig_elements or [chunk_element]
        pages = sorted({e.metadata.page_number for e in originals if e.metadata.page_number is not None})
        metadata = {
            "source": ref.source_url,
            "key": ref.key,
            "filename": ref.key.rsplit("/", 1)[-1],
            "filetype": chunk_element.metadata.filetype or "",
            "version": ref.version,
            "element_types": ",".join(dict.fromkeys(e.category for e in originals)),
            "chunk_index": index,
            "chunk_count": len(chunks),
            "ingest_config": fingerprint,
        }
        if pages:
            metadata["page_number"] = pages[0]
            metadata["page_numbers"] = ",".join(map(str, pages))
        records.append({"id": chunk_id(ref.source_url, index), "text": chunk_element.text, "metadata": metadata})
    return records
