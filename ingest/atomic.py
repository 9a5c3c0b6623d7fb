"""Writes that never leave a truncated file behind: a temp file in the same folder, fsync, then rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import psutil


def temp_prefix(path: Path) -> str:
    """Temp files for ``path`` are named ``.<name>.<pid>.*``: a worker killed mid-write leaves one behind, which
    is removed once that process is gone (outputs: by the next run's listing of the folder, ``temp_writer``;
    downloads: by the first download into the folder in each process, ``remove_stale_temps``)."""
    return f".{path.name[:200]}.{os.getpid()}."


def temp_writer(name: str) -> int | None:
    """The pid that is writing (or was, when killed) ``name``, a temp file of ``atomic_write``
    (``.<name>.<pid>.<random>.tmp``); None for any other name."""
    if not (name.startswith(".") and name.endswith(".tmp")):
        return None
    parts = name.removesuffix(".tmp").rsplit(".", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def gone(pid: int) -> bool:
    """No process ``pid`` is running (and it is not this one): what it left half-written can go."""
    return pid != os.getpid() and not psutil.pid_exists(pid)


def remove_stale_temps(folder: Path) -> None:
    """Remove the downloads (``.<name>.<pid>.part``) that writers now gone left half-written in ``folder``: one
    pass over the folder, made once per process (a pass per download was quadratic in a folder of kept ones)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith(".") and name.endswith(".part"):
                pid = name.removesuffix(".part").rpartition(".")[2]
                if pid.isdigit() and gone(int(pid)):
                    Path(entry.path).unlink(missing_ok=True)


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` whole or not at all. Nothing else in the folder is looked at: a
    write costs the same in a folder of a million files."""
    path.parent.mkdir(parents=True, exist_ok=True)
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
