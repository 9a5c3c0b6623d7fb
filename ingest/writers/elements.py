"""The output format: one element-JSON file per document, stamped with the object version it was made from, and
its chunk records as JSON lines beside it.

The stamp (``metadata.data_source`` on every element) is what the next run reads to skip unchanged documents, so
the skip decision needs nothing but the outputs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePosixPath

import orjson

from ingest.models import DocumentRef
from ingest.paths import safe_relative_path
from ingest.writers.base import Storage
from ingest.writers.figures import figures_key
from ingest.writers.storage import STATE_FOLDER

PARTS = f"{STATE_FOLDER}/parts"


def output_key(rel_path: str | PurePosixPath) -> str:
    """The element JSON of a document (``rel_path`` a key relative to its prefix, or one ``safe_relative_path``
    already checked)."""
    return f"{_checked(rel_path)}.json"


def chunks_key(rel_path: str | PurePosixPath) -> str:
    """The chunk records, one JSON object per line; the suffix can never collide with an element output."""
    return f"{_checked(rel_path)}.chunks.jsonl"


def _checked(rel_path: str | PurePosixPath) -> PurePosixPath:
    return rel_path if isinstance(rel_path, PurePosixPath) else safe_relative_path(rel_path)


def pending_key(key: str) -> str:
    """Where an element JSON waits until its document's vectors are stored; ``commit`` moves it into place."""
    folder, _, name = key.rpartition("/")
    return f"{folder}/.{name}.pending" if folder else f".{name}.pending"


def parts_key(source_url: str) -> str:
    """Where the page ranges of a long PDF leave their elements until the merge, by a hash of the URL (a run that
    dies leaves it behind; the next run clears PARTS at its start)."""
    digest = hashlib.sha256(source_url.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return f"{PARTS}/{digest}"


def _json(value, option: int = 0) -> bytes:
    """orjson, taking what the standard library's encoder takes in element metadata: numpy numbers (OCR and
    layout models give them) and other float subclasses."""
    return orjson.dumps(value, default=_plain, option=option | orjson.OPT_SERIALIZE_NUMPY)


def _plain(value):
    if isinstance(value, float):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def write_part(store: Storage, folder: str, pages: tuple[int, int], elements: list) -> None:
    """One range's elements as compact element JSON, unrounded: the merge's output rounds them once, as an
    unsplit run's does."""
    from unstructured.staging.base import elements_to_dicts

    store.write(f"{folder}/{pages[0]:06d}.json", _json(elements_to_dicts(elements)))


def read_part(store: Storage, folder: str, pages: tuple[int, int]) -> list:
    from unstructured.staging.base import elements_from_dicts

    data = store.read(f"{folder}/{pages[0]:06d}.json")
    if data is None:
        raise FileNotFoundError(f"the elements of pages {pages[0] + 1}-{pages[1]} are missing")
    return elements_from_dicts(orjson.loads(data))


def commit(store: Storage, rel_path: str) -> None:
    """Move a document's pending element JSON into place: its vectors are stored. A task sent again while its
    first copy still runs (a broker restart) writes the same output; when the other copy moved it first, the
    output is in place and this is done."""
    key = output_key(rel_path)
    pending = pending_key(key)
    try:
        store.move(pending, key)
    except Exception:
        if store.exists(pending) or not store.exists(key):
            raise


def discard_pending(store: Storage, rel_path: str) -> None:
    """Remove a document's pending element JSON: its vectors could not be stored."""
    store.delete(pending_key(output_key(rel_path)))


def remove_outputs(store: Storage, rel_path: str, stale_figures: bool = True) -> None:
    """Every output of a document gone from the bucket (``stale_figures``: its figures folder may hold files)."""
    out = output_key(rel_path)
    for key in (chunks_key(rel_path), pending_key(out), out):
        store.delete(key)
    if stale_figures:
        store.remove_tree(figures_key(rel_path))


def write_chunks(store: Storage, key: str, records: list[dict]) -> str:
    """Write the chunk records; their file's identity."""
    return store.write(key, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))


def read_chunks(store: Storage, rel_path: str) -> list[dict]:
    """The chunk records of a document as ``write_chunks`` wrote them."""
    data = store.read(chunks_key(rel_path))
    if data is None:
        raise FileNotFoundError(f"the chunk file {store.location(chunks_key(rel_path))} is missing")
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def identities(found: list[str | None]) -> str | None:
    """A document's output identities (element JSON first, then its chunk file) as the ledger keeps them; None
    when one is unknown."""
    return None if None in found else "|".join(found)


def _stamp(ref: DocumentRef, fingerprint: str) -> dict:
    return {
        "url": ref.source_url,
        "version": ref.version,
        "record_locator": {
            "protocol": "s3" if ref.source_url.startswith("s3://") else "file",
            "key": ref.key,
            "size": ref.size,
            "config": fingerprint,
        },
    }


def write_elements(store: Storage, key: str, elements: list, ref: DocumentRef, fingerprint: str) -> str:
    """Write ``elements`` as ``elements_to_json`` does (coordinates rounded, keys sorted, indented), each carrying
    the source URL and object version; encoded by orjson, which is several times faster than the standard
    library's indenting encoder (a fifth of a long PDF's partition time otherwise). Nothing that can change while
    the document stays the same is kept (a last-modified time: the same bytes uploaded again are skipped, and
    the outputs must still equal what a clean run writes)."""
    from unstructured.documents.elements import DataSourceMetadata
    from unstructured.staging.base import _fix_metadata_field_precision, elements_to_dicts

    source = DataSourceMetadata.from_dict(_stamp(ref, fingerprint))
    for element in elements:
        element.metadata.data_source = source
        element.metadata.file_directory = None  # a worker's temp path: differs between runs and machines
        element.metadata.last_modified = None
    dicts = elements_to_dicts(_fix_metadata_field_precision(elements))  # private, but pinned: unstructured==0.27.35
    return store.write(key, _json(dicts, orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))


def read_stamp(store: Storage, key: str) -> dict | None:
    """The data-source stamp of an element output; None when there is none, raises ValueError when it is not a
    complete output."""
    try:
        data = store.read(key)
        if data is None:
            return None
        elements = json.loads(data)
    except (OSError, ValueError) as exc:
        raise ValueError(str(exc)) from None
    try:
        return elements[0]["metadata"]["data_source"]
    except (LookupError, TypeError):
        raise ValueError("no stamped elements") from None


def staleness(store: Storage, key: str, ref: DocumentRef, fingerprint: str) -> str | None:
    """None when ``key`` holds a complete output made from this version of ``ref`` with these settings; else why
    the document must be processed."""
    try:
        stamp = read_stamp(store, key)
    except ValueError:
        return "output unreadable"
    if stamp is None:
        return "new"
    expected = _stamp(ref, fingerprint)
    locator = stamp.get("record_locator") or {}
    if stamp.get("url") != expected["url"]:
        return f"output made from {stamp.get('url')}"
    if (stamp.get("version"), locator.get("size")) != (ref.version, ref.size):
        return "changed"
    if locator != expected["record_locator"]:
        return "settings changed"
    return None


def chunks_source(store: Storage, key: str) -> str | None:
    """The source URL recorded in a chunk file, or None."""
    try:
        first = (store.read(key) or b"").split(b"\n", 1)[0]
        return json.loads(first)["metadata"]["source"]
    except (OSError, ValueError, LookupError, TypeError):
        return None
