"""What every writer does: a Storage holds the output files, a VectorIndex a collection of chunk vectors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


class Storage(Protocol):
    """Output files by key (a path relative to the output folder or prefix)."""

    def location(self, key: str) -> str:
        """Where ``key`` is, as a user would find it (a path, or an s3:// URL)."""

    def check(self) -> None:
        """Raise ConfigError when the outputs cannot be used (exit 2, before any work)."""

    def write(self, key: str, data: str | bytes) -> str:
        """Write ``key`` whole or not at all; its identity as ``listing`` will show it (as long as it is moved
        only within the storage)."""

    def read(self, key: str) -> bytes | None: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def move(self, key: str, to: str) -> None: ...

    def remove_tree(self, folder: str, keep: set[str] = frozenset()) -> None:
        """Delete every file under ``folder`` but the keys in ``keep``."""

    def listing(self, sweep: bool = False) -> Iterator[tuple[str, str]]:
        """Every output's key and identity (its size with its modification time or ETag), in key order, outside
        the state folder: one listing, no content read. ``sweep``: remove what writers that died left half-written
        on the way (a run does; a dry run does not)."""


@dataclass(frozen=True)
class IndexedDocument:
    """What a collection holds for one source URL."""

    version: str
    config: str
    chunk_count: int  # how many chunks the writer meant to store
    stored: int  # how many it holds

    def matches(self, version: str, config: str) -> bool:
        return (self.version, self.config) == (version, config) and self.stored == self.chunk_count


class VectorIndex(Protocol):
    """A collection of chunk vectors, each with its text and scalar metadata (``source`` among them)."""

    def check(self) -> dict[str, IndexedDocument]:
        """What an existing collection holds, creating nothing; raise ConfigError when the store is unreachable."""

    def open(self, model: str, dimension: int, create: bool = True) -> None:
        """Open (or create) the collection for vectors of ``model``; raise ConfigError when it holds others."""

    def indexed(self) -> dict[str, IndexedDocument]:
        """What the open collection holds, per source URL."""

    def upsert(self, records: list[dict], embeddings: list[list[float]]) -> None:
        """Store these chunks over any of the same ids."""

    def replace(self, source: str, records: list[dict], embeddings: list[list[float]]) -> None:
        """Make ``records`` the chunks of ``source``, never holding two versions of a chunk."""

    def vectors(self, sources: list[str]) -> dict[str, list[float]]:
        """The vectors the collection holds for the chunks of ``sources``, by chunk text."""

    def delete(self, source: str) -> None: ...

    def query(self, embedding: list[float], k: int) -> list[tuple[str, dict, float]]:
        """``(text, metadata, distance)`` of the ``k`` nearest chunks."""

    def explain(self, exc: Exception) -> str:
        """One line for a user about an error that a call of this index raised."""

    @property
    def metadata(self) -> dict:
        """The open collection's own metadata (the model it was built with, the dimension)."""
