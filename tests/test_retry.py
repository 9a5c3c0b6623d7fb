"""The one retry policy: transient errors are tried again up to the limit, others raise at once, cancel ends it."""

from __future__ import annotations

import threading
import time

import pytest

from ingest.retry import retrying


class Flaky:
    def __init__(self, failures: int, error: type[Exception] = ConnectionError):
        self.calls, self.failures, self.error = 0, failures, error

    def __call__(self, value):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"try {self.calls}")
        return value


def transient(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionError)


def test_transient_errors_are_retried_until_the_call_passes():
    flaky = Flaky(failures=2)
    assert retrying(2, transient)(flaky, "ok") == "ok" and flaky.calls == 3


def test_the_last_error_is_raised_as_it_was_when_retries_run_out():
    flaky = Flaky(failures=5)
    with pytest.raises(ConnectionError, match="try 2"):
        retrying(1, transient)(flaky, "ok")
    assert flaky.calls == 2


def test_errors_that_cannot_pass_are_not_retried():
    flaky = Flaky(failures=1, error=PermissionError)
    with pytest.raises(PermissionError):
        retrying(5, transient)(flaky, "ok")
    assert flaky.calls == 1


def test_cancel_ends_the_waiting_at_once():
    cancel = threading.Event()
    flaky = Flaky(failures=100)
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(ConnectionError):
        retrying(100, transient, cancel)(flaky, "ok")
    assert time.monotonic() - started < 15 and flaky.calls < 100
