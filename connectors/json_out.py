"""One element-JSON file per document, stamped with the object version it was made from.

The stamp (``metadata.data_source`` on every element) is what the next run reads to skip unchanged documents, so
the skip decision needs nothing but the output folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from ingest.files import atomic_write_text
from ingest.models import DocumentRef
from ingest.paths import safe_relative_path


def output_path(output_dir: Path, rel_path: str) -> Path:
    return output_dir / f"{safe_relative_path(rel_path)}.json"


def chunks_path(output_dir: Path, rel_path: str) -> Path:
    """The chunk records, one JSON object per line; the suffix can never collide with an element output."""
    return output_dir / f"{safe_relative_path(rel_path)}.chunks.jsonl"


def pending_path(path: Path) -> Path:
    """Where an element JSON waits until its document's vectors are stored; ``commit`` moves it into place."""
    return path.with_name(f".{path.name}.pending")


def parts_dir(output_dir: Path, source_url: str) -> Path:
    """Where the page ranges of a long PDF leave their elements until the merge: under the run's lock, by a hash
    of the URL (a run that dies leaves it behind; the next run clears the folder at its start)."""
    digest = hashlib.sha256(source_url.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return output_dir / ".ingest" / "parts" / digest


def write_part(folder: Path, pages: tuple[int, int], elements: list) -> None:
    """One range's elements, as unstructured writes (and reads back) element JSON."""
    from unstructured.staging.base import elements_to_json

    atomic_write_text(folder / f"{pages[0]:06d}.json", elements_to_json(elements))


def read_part(folder: Path, pages: tuple[int, int]) -> list:
    from unstructured.staging.base import elements_from_json

    return elements_from_json(filename=str(folder / f"{pages[0]:06d}.json"))


def remove_parts(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def commit(path: Path) -> None:
    os.replace(pending_path(path), path)


def write_chunks(path: Path, records: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))


def _stamp(ref: DocumentRef, fingerprint: str) -> dict:
    return {
        "url": ref.source_url,
        "version": ref.version,
        "date_modified": ref.last_modified,
        "record_locator": {
            "protocol": "s3" if ref.source_url.startswith("s3://") else "file",
            "key": ref.key,
            "size": ref.size,
            "config": fingerprint,
        },
    }


def write_elements(path: Path, elements: list, ref: DocumentRef, fingerprint: str) -> None:
    """Write ``elements`` as ``elements_to_json`` does, each carrying the source URL and object version."""
    from unstructured.documents.elements import DataSourceMetadata
    from unstructured.staging.base import elements_to_json

    source = DataSourceMetadata.from_dict(_stamp(ref, fingerprint))
    for element in elements:
        element.metadata.data_source = source
        element.metadata.file_directory = None  # a worker's temp path: differs between runs and machines
    atomic_write_text(path, elements_to_json(elements, indent=2))


def read_stamp(path: Path) -> dict | None:
    """The data-source stamp of an element output; None when the file is missing, raises ValueError when it is
    not a complete output."""
    try:
        with path.open("rb") as handle:
            elements = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(str(exc)) from None
    try:
        return elements[0]["metadata"]["data_source"]
    except (LookupError, TypeError):
        raise ValueError("no stamped elements") from None


def staleness(path: Path, ref: DocumentRef, fingerprint: str) -> str | None:
    """None when ``path`` holds a complete output made from this version of ``ref`` with these settings; else why
    the document must be processed."""
    try:
        stamp = read_stamp(path)
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


def chunks_source(path: Path) -> str | None:
    """The source URL recorded in a chunk file, or None."""
    try:
        with path.open(encoding="utf-8") as handle:
            return json.loads(handle.readline())["metadata"]["source"]
    except (OSError, ValueError, LookupError, TypeError):
        return None
