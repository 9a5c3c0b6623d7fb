"""Object keys are untrusted input: map them to relative paths that stay inside their folder, or refuse them."""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import PurePosixPath

from ingest.errors import UnsafeKey
from ingest.workset import WorkSet

MAX_SEGMENT_BYTES = 255 - len(".json") - 16  # room for the ".json" suffix and a temp-file prefix


def safe_relative_path(rel_key: str) -> PurePosixPath:
    """The key (relative to its prefix) as a path below a folder.

    Keys are refused rather than rewritten, so that two different keys can never map to one file: no empty,
    ``.`` or ``..`` segments (which also rules out a leading ``/`` and ``//``), no backslashes, no control
    characters, and no segment too long for the file system.
    """
    if not rel_key:
        raise UnsafeKey("empty key")
    for char in rel_key:
        if char == "\\" or unicodedata.category(char) in ("Cc", "Cf", "Cs"):
            raise UnsafeKey(f"key contains the character {char!r}; rename the object")
    segments = rel_key.split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise UnsafeKey("key has an empty, '.' or '..' path segment; rename the object")
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            raise UnsafeKey(f"a key segment is longer than {MAX_SEGMENT_BYTES} bytes; rename the object")
    return PurePosixPath(*segments)


def download_name(key: str) -> str:
    """A download's file name: a hash of the whole key, so that no two keys share one (``x`` and ``x/y``, ``A`` and
    ``a``) whatever the key holds, plus its extension, which unstructured reads to tell the file type."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    suffix = PurePosixPath(key.rsplit("/", 1)[-1]).suffix
    safe = suffix if len(suffix) <= 16 and suffix[1:].isalnum() and suffix.isascii() else ""
    return digest + safe


class OutputClaims:
    """The output files and folders taken so far in a run, compared as a case-insensitive, Unicode-normalising file
    system (macOS, Windows, many network shares) compares names: of two keys that would overwrite each other's
    outputs there (``Report.pdf`` and ``report.pdf``; ``x`` and ``x.json/y``), the first listed wins and the other
    is refused. The names are kept in the run's work set, on disk."""

    def __init__(self, workset: WorkSet):
        self.workset = workset

    def claim(self, key: str, rel_path: PurePosixPath) -> None:
        path, claimed = str(rel_path), self.workset.claimed
        files = [_folded(f"{path}{suffix}") for suffix in (".json", ".chunks.jsonl", ".figures")]
        segments = path.split("/")
        folders = [_folded("/".join(segments[:end])) for end in range(len(segments) - 1, 0, -1)]
        owner = next(
            (owner for name in files for owner in (claimed("files", name), claimed("folders", name)) if owner), None
        )
        owner = owner or next((owner for name in folders if (owner := claimed("files", name))), None)
        if owner is not None and owner != key:
            raise UnsafeKey(
                f"its outputs would overwrite those of {owner!r} on a case-insensitive or normalising "
                "file system; rename one of the two",
                error_type="KeyCollision",
            )
        self.workset.claim(files, folders, key)


def _folded(path: str) -> str:
    return unicodedata.normalize("NFC", path).casefold()
