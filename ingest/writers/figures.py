"""The images cropped out of a document (``--extract-images``): one JPEG per Image or Table block, in a folder beside
its element JSON, ``<key>.figures/figure-<page>-<n>.jpg`` (``table-...`` for tables, ``n`` counted per page), named
in the element's ``image_path`` relative to the output folder or prefix, so a copied or restored folder still
resolves. Or, with ``--inline-images``, left in the element JSON as ``image_base64``.

The folder always holds exactly the files of the document's last output: a redone document's other files, and the
whole folder of a document gone or made without images, are removed."""

from __future__ import annotations

import base64
from collections import Counter
from pathlib import PurePosixPath

from ingest.paths import safe_relative_path
from ingest.writers.base import Storage

SUFFIX = ".figures"


def figures_key(rel_path: str | PurePosixPath) -> str:
    path = rel_path if isinstance(rel_path, PurePosixPath) else safe_relative_path(rel_path)
    return f"{path}{SUFFIX}"


def write_figures(store: Storage, rel_path: str, elements: list, mode: str, stale: bool = True) -> int:
    """Write the cropped images of ``elements`` as files (mode ``files``), pointing each element at its file, and
    remove what else the document's folder holds (``stale``: the outputs' listing showed files there; otherwise
    that costs a listing per document); how many were written. Each file is written whole; a run that dies between
    them and the element JSON leaves the document to be redone by the next run."""
    folder = figures_key(rel_path)
    written: set[str] = set()
    if mode == "files":
        per_page: Counter[int] = Counter()
        for element in elements:
            payload = element.metadata.image_base64
            if not payload:
                continue
            page = element.metadata.page_number or 1
            per_page[page] += 1
            name = f"{'table' if element.category == 'Table' else 'figure'}-{page}-{per_page[page]}.jpg"
            store.write(f"{folder}/{name}", base64.b64decode(payload))
            element.metadata.image_path = f"{folder}/{name}"
            element.metadata.image_base64 = None
            element.metadata.image_mime_type = None
            written.add(f"{folder}/{name}")
    if stale:
        store.remove_tree(folder, keep=written)
    return len(written)
