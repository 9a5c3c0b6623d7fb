"""One retry policy for what boto3 does not retry by itself: S3 response bodies cut off mid-stream, the Chroma
server and webhook deliveries. Exponential backoff with full jitter (0.5 s, 1 s, 2 s, ... up to 20 s between
tries); only errors the caller calls transient are retried, and the last one is raised as it was."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_when_event_set, wait_random_exponential


def retrying(
    retries: int, transient: Callable[[BaseException], bool], cancel: threading.Event | None = None
) -> Retrying:
    """Call the result with a function and its arguments: ``retrying(5, transient)(upload, batch)``. Setting
    ``cancel`` ends the waiting and the retries at once (the last error is raised)."""
    stop = stop_after_attempt(retries + 1)
    if cancel is not None:
        stop |= stop_when_event_set(cancel)
    return Retrying(
        stop=stop,
        wait=wait_random_exponential(multiplier=0.5, max=20),
        sleep=cancel.wait if cancel is not None else time.sleep,
        retry=retry_if_exception(transient),
        reraise=True,
    )
