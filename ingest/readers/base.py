"""What every reader does: check access before any work, list documents as a stream, fetch one to a local file."""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Protocol

from ingest.models import DocumentRef


class Reader(Protocol):
    downloads: bool  # fetch() makes a local copy that may be removed after processing

    def check(self) -> None:
        """Raise ConfigError when the source cannot be listed (exit 2, before any work)."""

    def scope(self) -> str | None:
        """The URL prefix that the listing covers completely (deletions are found under it), or None when it
        covers only part of it: one object, or a listing filtered by --include/--exclude."""

    def list(self) -> Iterator[DocumentRef]:
        """Every document under the source, one page of the listing at a time."""

    def fetch(self, ref: DocumentRef, reuse: bool = False) -> Path:
        """A local file with the content of ``ref``; raises DocumentError at stage ``fetch``. ``reuse``: a copy
        made earlier in this run is good whatever ``--re-download`` says."""


def selected(rel_path: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    """Glob filters on the key relative to the prefix (``*`` also matches ``/``)."""
    if include and not any(fnmatchcase(rel_path, pattern) for pattern in include):
        return False
    return not any(fnmatchcase(rel_path, pattern) for pattern in exclude)
