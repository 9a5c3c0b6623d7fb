"""Plan each listed document (skip or do) and run the work on a process pool, streaming results as they finish."""
from __future__ import annotations

import logging
import queue
import signal
import time
from contextlib import ExitStack
from typing import Callable, Iterator

import multiprocess
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from connectors.base import Reader
from connectors.json_out import is_current, output_path
from ingest.config import RunConfig
from ingest.models import DocumentRef, DocumentResult, RunSummary
from ingest.pipeline import failed, process_document

log = logging.getLogger("ingest")


def plan(ref: DocumentRef, cfg: RunConfig) -> DocumentResult | None:
    """A result when the document needs no work (skipped, or refused), None when it must be processed."""
    try:
        out = output_path(cfg.output_dir, ref.rel_path)
    except Exception as exc:  # noqa: BLE001 - an unsafe key fails alone
        return failed(ref, exc, "plan")
    if not cfg.reprocess and is_current(out, ref, cfg.partition.fingerprint()):
        return DocumentResult(ref, "skipped", output_path=str(out))
    return None


def run(cfg: RunConfig, reader: Reader, prepare: Callable[[], None]) -> RunSummary:
    """Process what the listing and the outputs say needs doing. ``prepare`` (the prerequisite checks, which
    import unstructured and load its models) runs once, before the first document that needs work: a rerun
    that skips everything never pays for it."""
    summary = RunSummary()
    started = time.monotonic()
    bar = tqdm(unit="doc", desc="documents", disable=None, dynamic_ncols=True)
    with logging_redirect_tqdm(), bar, ExitStack() as stack:
        def start_pool():
            prepare()
            return stack.enter_context(_pool(cfg.num_processes))

        for result, listed in _results(cfg, reader, start_pool):
            summary.add(result)
            bar.total = listed
            bar.set_postfix(pages=summary.pages, failed=summary.failed, refresh=False)
            bar.update()
            if result.status == "failed":
                log.error("FAILED %s [%s] %s: %s", printable(result.ref.key), result.stage, result.error_type,
                          result.message)
            else:
                log.info("%s %s", result.status, printable(result.ref.key))
    summary.seconds = time.monotonic() - started
    return summary


def _results(cfg: RunConfig, reader: Reader, start_pool) -> Iterator[tuple[DocumentResult, int]]:
    """Results in completion order, with the number listed so far; at most a few documents wait in the pool."""
    done: queue.SimpleQueue[DocumentResult] = queue.SimpleQueue()
    max_in_flight = 2 * cfg.num_processes
    pool = None
    in_flight = listed = 0
    for ref in reader.list():
        listed += 1
        result = plan(ref, cfg)
        if result is not None:
            yield result, listed
            continue
        pool = pool or start_pool()
        pool.apply_async(process_document, (ref, cfg), callback=done.put,
                         error_callback=lambda exc, ref=ref: done.put(failed(ref, exc, "worker")))
        in_flight += 1
        while in_flight >= max_in_flight or not done.empty() and in_flight:
            in_flight -= 1
            yield done.get(), listed
    while in_flight:
        in_flight -= 1
        yield done.get(), listed


def _pool(processes: int):
    """Forked workers inherit the imported unstructured and its loaded NLP model: start-up costs milliseconds."""
    return multiprocess.get_context("fork").Pool(processes, initializer=signal.signal,
                                                 initargs=(signal.SIGINT, signal.SIG_IGN))


def printable(key: str) -> str:
    """A key as it can be shown on one terminal line, odd bytes escaped."""
    return key if key.isprintable() else key.encode("unicode_escape").decode("ascii")
