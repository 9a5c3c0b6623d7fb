"""unstructured's chunkers, and the chunk records that are written beside the element JSON and indexed."""

from __future__ import annotations

import hashlib

from ingest.config import ChunkConfig
from ingest.models import DocumentRef


def chunk(elements: list, cfg: ChunkConfig) -> list:
    """Chunks as unstructured makes them, then one for each image cropped out (see ``figure_chunks``); with
    ``none``, every element with text is a chunk of its own."""
    if cfg.strategy == "none":
        kept = [element for element in elements if element.text.strip() and not _cropped(element)]
        return kept + figure_chunks(elements, _DEFAULT_MAX)
    from unstructured.chunking.basic import chunk_elements
    from unstructured.chunking.title import chunk_by_title

    options = {"max_characters": cfg.max_characters, "overlap": cfg.overlap}
    if cfg.strategy == "by_title":
        options["combine_text_under_n_chars"] = cfg.combine_text_under
        chunks = chunk_by_title(elements, **{k: v for k, v in options.items() if v is not None})
    else:
        chunks = chunk_elements(elements, **{k: v for k, v in options.items() if v is not None})
    return chunks + figure_chunks(elements, cfg.max_characters or _DEFAULT_MAX)


_DEFAULT_MAX = 500  # unstructured's max_characters
_NOT_CONTEXT = ("Image", "Table", "Header", "Footer", "PageBreak", "PageNumber")


def figure_chunks(elements: list, limit: int) -> list:
    """Each Image element that was cropped out (``--extract-images``) as a chunk of its own, so that a query finds
    the figure: its caption (a FigureCaption beside it on its page), or else the text just before and after it,
    then the text inside the figure, at most ``limit`` characters; its metadata names the image file."""
    from unstructured.documents.elements import Image

    figures = []
    for index, element in enumerate(elements):
        if not _cropped(element):
            continue
        metadata = element.metadata
        beside = [
            elements[at]
            for at in (index + 1, index - 1, index + 2, index - 2)
            if 0 <= at < len(elements) and elements[at].metadata.page_number == metadata.page_number
        ]
        captions = [other.text for other in beside if other.category == "FigureCaption"][:1]
        context = captions or [other.text for other in beside[:2] if other.category not in _NOT_CONTEXT]
        text = " ".join(" ".join([*context, element.text]).split())[:limit]
        figure = Image(text=text or f"Figure on page {metadata.page_number or 1}", element_id=element.id)
        figure.metadata.filetype, figure.metadata.page_number = metadata.filetype, metadata.page_number
        figure.metadata.image_path, figure.metadata.image_mime_type = metadata.image_path, metadata.image_mime_type
        figures.append(figure)
    return figures


def validate(cfg: ChunkConfig) -> None:
    """Raise ValueError, with unstructured's own message, for settings its chunkers refuse."""
    from unstructured.documents.elements import NarrativeText

    chunk([NarrativeText("A sentence to chunk.")], cfg)


def _cropped(element) -> bool:
    return element.category == "Image" and bool(element.metadata.image_path or element.metadata.image_base64)


def _figure(chunk_element) -> bool:
    """A chunk that ``figure_chunks`` made."""
    return chunk_element.category == "Image" and bool(
        chunk_element.metadata.image_path or chunk_element.metadata.image_mime_type
    )


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
        if chunk_element.metadata.text_as_html:  # a table's chunk
            metadata["text_as_html"] = chunk_element.metadata.text_as_html
        image = next((e.metadata.image_path for e in originals if e.category in ("Image", "Table")), None)
        if image and chunk_element.category in ("Image", "Table", "TableChunk"):  # the file, beside the outputs
            metadata["image_path"] = image
        if _figure(chunk_element):  # its element in the element JSON (with the crop inline, the one way to it)
            metadata["element_id"] = chunk_element.id
        records.append({"id": chunk_id(ref.source_url, index), "text": chunk_element.text, "metadata": metadata})
    return records
