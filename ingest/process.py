"""Child processes that never outlive the run that started them."""
from __future__ import annotations

import ctypes
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies: a driver killed with SIGKILL must not leave workers
    writing outputs (or holding its lock) behind it. Elsewhere this is a no-op."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def init_worker() -> None:
    """Pool workers: Ctrl-C is the driver's to handle, and they die with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
