"""Writes that never leave a truncated file behind: a temp file in the same folder, fsync, then rename."""

from __future__ import annotations

import glob
import os
import tempfile
from pathlib import Path

import psutil


def temp_prefix(path: Path) -> str:
    """Temp files for ``path`` are named ``.<name>.<pid>.*``: a worker killed mid-write leaves one behind, which
    the next write of the same file removes once that process is gone."""
    return f".{path.name[:200]}.{os.getpid()}."


def remove_stale_temps(path: Path) -> None:
    for leftover in path.parent.glob(f".{glob.escape(path.name[:200])}.*.*"):
        pid = leftover.name[len(path.name[:200]) + 2 :].partition(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not psutil.pid_exists(int(pid)):
            leftover.unlink(missing_ok=True)


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
