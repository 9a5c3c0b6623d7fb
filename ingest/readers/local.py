"""A local folder read through the same pipeline as a bucket; a file's version is its size and mtime."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from ingest.config import RunConfig
from ingest.errors import ConfigError
from ingest.models import DocumentRef
from ingest.readers.base import selected


class LocalReader:
    downloads = False

    def __init__(self, cfg: RunConfig):
        self.source = cfg.source
        self.root = Path(cfg.source.local_root).resolve()

    def check(self) -> None:
        if not self.root.exists():
            raise ConfigError(f"--local-path {self.source.local_root}: no such file or folder")
        if not os.access(self.root, os.R_OK):
            raise ConfigError(f"--local-path {self.source.local_root}: not readable (check its permissions)")

    def scope(self) -> str | None:
        """The path prefix this listing covers completely, or None (one file, or filtered by globs)."""
        if self.root.is_file() or self.source.include or self.source.exclude:
            return None
        return f"{self.root}{os.sep}"

    def list(self) -> Iterator[DocumentRef]:
        if self.root.is_file():
            yield self._ref(self.root, self.root.name)
            return
        for folder, dirs, files in os.walk(self.root):
            dirs.sort()
            for name in sorted(files):
                path = Path(folder, name)
                rel_path = path.relative_to(self.root).as_posix()
                if selected(rel_path, self.source.include, self.source.exclude):
                    yield self._ref(path, rel_path)

    def fetch(self, ref: DocumentRef, reuse: bool = False) -> Path:
        return Path(ref.source_url)

    def _ref(self, path: Path, rel_path: str) -> DocumentRef:
        stat = path.stat()
        return DocumentRef(
            source_url=str(path),
            key=rel_path,
            rel_path=rel_path,
            version=f"{stat.st_size}-{stat.st_mtime_ns}",
            size=stat.st_size,
            last_modified=datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(),
        )
