"""Child processes: forked from a driver whose loaded state is frozen for them, and never outliving its run."""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent (pid ``parent``) dies: a driver killed with SIGKILL must not
    leave workers writing outputs (or holding its lock, or its output pipes) behind it. A parent that died before
    the request (a spawned child takes a second or more to get here) is caught by the look at ``getppid`` after
    it. Elsewhere than on Linux this is a no-op."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)


def init_worker(parent: int) -> None:
    """Pool workers: Ctrl-C is the driver's to handle, and they die with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)


def freeze_before_fork() -> None:
    """Move everything this process holds so far (unstructured, spaCy's model, torch) out of the cyclic garbage
    collector's sight, as Python's docs advise before forking workers: a forked worker's full collections then no
    longer walk those ~280,000 objects (they took 4 of the 9.5 s a worker spent collecting over the PDF corpus), nor
    write to, and so copy, the memory pages that hold them."""
    gc.freeze()
