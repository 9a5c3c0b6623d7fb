"""The runs ``ingest serve`` is sent, one at a time: each waits in the ledger as ``queued`` and runs through the
library entry point in a child process of its own, so that a crash costs that run and not the server.

The queue is the ledger's: a run queued before the server restarted is run when it is back. A run started from
cron on the same outputs holds the run lock; the next queued run waits for it.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import signal
import sys
import threading

from ingest.config import RunConfig, RunOptions, ServeConfig
from ingest.redact import RedactingFormatter, redact
from ingest.service.requests import BadRequest, requested_run
from ingest.state import Ledger, ledger_path

log = logging.getLogger("ingest")


class Scheduler:
    def __init__(self, config: ServeConfig):
        self.config = config
        self.ledger_path = ledger_path(config.run.output_dir, config.options.state_path)
        self._wake = threading.Event()
        self._stopping = False
        self._child: multiprocessing.Process | None = None
        self._thread = threading.Thread(target=self._loop, name="ingest-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """A run was queued."""
        self._wake.set()

    def stop(self) -> None:
        """Stop taking runs and end the one running (what it finished is written; the rest is redone)."""
        self._stopping = True
        self._wake.set()
        child = self._child
        if child is not None and child.is_alive():
            os.kill(child.pid, signal.SIGINT)  # as Ctrl-C stops `ingest`: its processes are stopped, not orphaned
            child.join(20)
            if child.is_alive():
                child.terminate()
                child.join(10)

    def _loop(self) -> None:
        ledger = Ledger(self.ledger_path)
        try:
            while not self._stopping:
                run_id = ledger.next_queued()
                if run_id is None:
                    self._wake.wait(1.0)
                    self._wake.clear()
                    continue
                self._execute(ledger, run_id)
        finally:
            ledger.close()

    def _execute(self, ledger: Ledger, run_id: int) -> None:
        run = ledger.run(run_id)
        try:  # the request again, as the server is set up now (it may have restarted since)
            cfg, options = requested_run(run["arguments"].get("request"), self.config)
        except BadRequest as exc:
            ledger.fail_run(run_id, exc.message)
            return
        options = dataclasses.replace(options, run_id=run_id)
        child = multiprocessing.get_context("spawn").Process(
            target=_run_in_child, args=(cfg, options), name=f"ingest-run-{run_id}"
        )
        self._child = child
        child.start()
        child.join()
        self._child = None
        if child.exitcode:
            ledger.fail_run(run_id, f"the run's process ended with exit code {child.exitcode} before the run did")


def _run_in_child(cfg: RunConfig, options: RunOptions) -> None:
    """One submitted run, in its own process: its errors go to the ledger, its log lines to the server's stderr."""
    os.environ["TQDM_DISABLE"] = "1"  # no progress bar on the server's terminal: the page has one
    signal.signal(signal.SIGINT, signal.default_int_handler)  # how the server stops it, even when Ctrl-C is ignored
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(f"run {options.run_id}: %(message)s"))
    logging.basicConfig(level=logging.ERROR, handlers=[handler], force=True)
    logging.getLogger("ingest").setLevel(logging.WARNING)
    logging.getLogger("unstructured").setLevel(logging.CRITICAL)

    from ingest import api
    from ingest.errors import IngestError

    try:
        api.run(cfg, options)
    except IngestError as exc:  # the settings or the lock: the run did nothing
        _fail(cfg, options, redact(exc.message))
    except KeyboardInterrupt:
        _fail(cfg, options, "stopped with the server: finished documents are kept, the next run does the rest")


def _fail(cfg: RunConfig, options: RunOptions, error: str) -> None:
    ledger = Ledger(ledger_path(cfg.output_dir, options.state_path))
    ledger.fail_run(options.run_id, error)
    ledger.close()
