"""Object keys are untrusted input: map them to relative paths that stay inside their folder, or refuse them."""
from __future__ import annotations

import unicodedata
from pathlib import PurePosixPath

from ingest.errors import UnsafeKey

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
