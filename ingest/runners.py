"""Plan each listed document (skip or do) and run the work on a process pool, streaming results as they finish.

With vectors on, a partitioned document's chunk records go on to the index writer, and the document counts as
processed only once its vectors are stored and its element JSON is committed.
"""
from __future__ import annotations

import dataclasses
import logging
import queue
import signal
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Iterator

import multiprocess
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from connectors.base import Reader
from connectors.chroma import IndexedDocument
from connectors.json_out import chunks_path, commit, is_current, output_path, pending_path
from ingest.config import RunConfig
from ingest.errors import DocumentError
from ingest.index import IndexWriter
from ingest.models import DocumentRef, DocumentResult, RunSummary
from ingest.pipeline import failed, process_document

log = logging.getLogger("ingest")


def plan(ref: DocumentRef, cfg: RunConfig, indexed: dict[str, IndexedDocument]) -> DocumentResult | None:
    """A result when the document needs no work (skipped, or refused), None when it must be processed."""
    try:
        out = output_path(cfg.output_dir, ref.rel_path)
    except Exception as exc:  # noqa: BLE001 - an unsafe key fails alone
        return failed(ref, exc, "plan")
    if cfg.reprocess or not is_current(out, ref, cfg.fingerprint()):
        return None
    if cfg.chunks_enabled and not chunks_path(cfg.output_dir, ref.rel_path).is_file():
        return None
    if cfg.index.enabled:
        entry = indexed.get(ref.source_url)
        if entry is None or not entry.matches(ref.version, cfg.fingerprint()):
            return None
    return DocumentResult(ref, "skipped", output_path=str(out))


def run(cfg: RunConfig, reader: Reader, prepare: Callable[[], None]) -> RunSummary:
    """Process what the listing, the outputs and the index say needs doing. ``prepare`` (the prerequisite checks,
    which import unstructured and load its models) runs once, before the first document that needs work: a rerun
    that skips everything never pays for it."""
    summary = RunSummary()
    started = time.monotonic()
    bar = tqdm(unit="doc", desc="documents", disable=None, dynamic_ncols=True)
    with logging_redirect_tqdm(), bar, ExitStack() as stack:
        writer = indexed = None
        if cfg.index.enabled:  # started first, while this process is still free of torch and Chroma
            writer = IndexWriter(cfg.index)
            stack.callback(writer.close)
            indexed = writer.start()

        def start_pool():
            prepare()
            return stack.enter_context(_pool(cfg.num_processes))

        for result, listed in _Dispatcher(cfg, start_pool, writer, indexed or {}).results(reader):
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


class _Dispatcher:
    """Feeds the pool (and the index writer) while the listing streams; at most a few documents wait at once."""

    def __init__(self, cfg: RunConfig, start_pool, writer: IndexWriter | None, indexed):
        self.cfg, self.start_pool, self.writer, self.indexed = cfg, start_pool, writer, indexed
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.awaiting_index: dict[str, DocumentResult] = {}
        self.writer_error: str | None = None
        self.in_flight = 0
        if writer:
            writer.forward_replies(lambda source, error: self.events.put(("indexed", source, error)))

    def results(self, reader: Reader) -> Iterator[tuple[DocumentResult, int]]:
        pool = None
        listed = 0
        for ref in reader.list():
            listed += 1
            result = plan(ref, self.cfg, self.indexed)
            if result is not None:
                yield result, listed
                continue
            pool = pool or self.start_pool()
            pool.apply_async(process_document, (ref, self.cfg), callback=self._partitioned,
                             error_callback=lambda exc, ref=ref: self._partitioned(failed(ref, exc, "worker")))
            self.in_flight += 1
            while self.in_flight >= 2 * self.cfg.num_processes or not self.events.empty() and self.in_flight:
                for result in self._settle(self.events.get()):
                    yield result, listed
        while self.in_flight:
            for result in self._settle(self.events.get()):
                yield result, listed

    def _partitioned(self, result: DocumentResult) -> None:
        self.events.put(("partitioned", result))

    def _settle(self, event) -> Iterator[DocumentResult]:
        """Final results, once a document is done with every stage."""
        if event[0] == "partitioned":
            result = event[1]
            if result.records is None or result.status == "failed":
                yield from self._finish(result)
            elif self.writer_error:
                yield from self._index_failed(result, self.writer_error)
            else:
                self.awaiting_index[result.ref.source_url] = result
                self.writer.submit(result.ref.source_url, result.records)
            return
        _, source, error = event
        if source is None:  # the writer is gone: everything waiting for it fails, and so does what comes later
            self.writer_error = error
            for waiting in list(self.awaiting_index.values()):
                yield from self._index_failed(waiting, error)
            self.awaiting_index.clear()
            return
        result = self.awaiting_index.pop(source)
        if error:
            yield from self._index_failed(result, error)
        else:
            commit(Path(result.output_path))
            yield from self._finish(dataclasses.replace(result, records=None))

    def _index_failed(self, result: DocumentResult, error: str) -> Iterator[DocumentResult]:
        pending_path(Path(result.output_path)).unlink(missing_ok=True)
        error_type, _, message = error.partition(": ")
        yield from self._finish(failed(result.ref, DocumentError(message or error, "index", error_type), "index"))

    def _finish(self, result: DocumentResult) -> Iterator[DocumentResult]:
        self.in_flight -= 1
        yield result


def _pool(processes: int):
    """Forked workers inherit the imported unstructured and its loaded NLP model: start-up costs milliseconds."""
    return multiprocess.get_context("fork").Pool(processes, initializer=signal.signal,
                                                 initargs=(signal.SIGINT, signal.SIG_IGN))


def printable(key: str) -> str:
    """A key as it can be shown on one terminal line, odd bytes escaped."""
    return key if key.isprintable() else key.encode("unicode_escape").decode("ascii")
