"""One run at a time per output folder: an flock on a file beside the outputs.

The kernel releases an flock when its holder dies, however it dies, so a lock left by a run killed with SIGKILL
is taken over by the next run without any staleness heuristics (its workers die with it: see pools/forking.py).
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from ingest.errors import IngestError
from ingest.state import now


class LockHeld(IngestError):
    """Another run holds the lock."""


class RunLock:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def acquire(self, wait: bool, output_dir: Path) -> None:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = self._holder()
            message = (
                f"Another ingest run (pid {holder.get('pid', '?')}, started {holder.get('started', '?')}) is "
                f"writing to {output_dir}; this run did nothing. Pass --wait-lock to wait for it"
            )
            raise LockHeld(message) from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps({"pid": os.getpid(), "started": now()}).encode(), 0)

    def release(self) -> None:
        os.close(self.fd)  # closing the descriptor releases the flock

    def _holder(self) -> dict:
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}
