"""A run on the driver: plan each listed document, feed the pool while the listing streams, store vectors through
the index writer, remove what the bucket no longer has, and record each final result (outputs first, the ledger
last).

With vectors on, a partitioned document's chunk records go on to the index writer, and the document counts as
processed only once its vectors are stored and its element JSON is committed.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ingest.config import BrokerConfig, RunConfig
from ingest.errors import BrokerLost, ConfigError, DocumentError, ListingError
from ingest.models import LOW_COVERAGE, DocumentRef, DocumentResult, Part, RunSummary, Split, Task, TaskResult
from ingest.paths import OutputClaims, safe_relative_path
from ingest.pipeline import failed, run_task
from ingest.planning import GAVE_UP, TOO_LARGE, Outputs, gone, plan
from ingest.pools.index_writer import IndexWriter
from ingest.pools.local import WorkerPool
from ingest.readers.base import Reader
from ingest.state import Ledger
from ingest.webhooks import Webhooks
from ingest.workset import WorkSet
from ingest.writers.elements import PARTS, discard_pending, parts_key, remove_outputs
from ingest.writers.figures import figures_key
from ingest.writers.storage import storage_for

log = logging.getLogger("ingest")
_SCHEDULING_WINDOW = 1000  # to-do documents sorted biggest first at a time, while the listing streams
_PROGRESS_SECONDS = 1.0  # how often a run's counts so far go to the ledger, for those who watch it


def run(
    cfg: RunConfig,
    reader: Reader,
    prepare: Callable[[list[str]], None],
    ledger: Ledger | None = None,
    run_id: int | None = None,
    webhooks: Webhooks | None = None,
    broker: BrokerConfig | None = None,
) -> RunSummary:
    """Process what the listing, the outputs and the index say needs doing. ``prepare(keys)`` (the prerequisite
    checks, which import unstructured and load its models) runs once, before the first document that needs work,
    with the keys of the first documents to do: a rerun that skips everything never pays for it. Each final result
    is recorded in the ledger, then announced.

    With a ``broker``, Celery workers do the documents, vectors included, and ``prepare`` is theirs to do."""
    summary = RunSummary()
    started = time.monotonic()
    fingerprint = cfg.fingerprint()
    bar = tqdm(unit="doc", desc="documents", disable=None, dynamic_ncols=True)
    with logging_redirect_tqdm(), bar, ExitStack() as stack:
        writer = indexed = None
        if cfg.index.enabled:  # started first, while this process is still free of torch and Chroma
            writer = IndexWriter(cfg)
            stack.callback(writer.close)
            indexed = writer.start()

        store = storage_for(cfg)
        store.remove_tree(PARTS)  # what a run that died left between ranges and merge
        stack.callback(store.remove_tree, PARTS)

        def start_pool(keys: list[str]):
            """Before the first document: the model loads in the writer while unstructured loads here."""
            if broker:
                from ingest.pools.celery_driver import CeleryPool

                return stack.enter_context(CeleryPool(broker, dispatcher.partitioned, dispatcher.lost))
            if writer:
                writer.load()
            prepare(keys)
            if writer:
                dispatcher.wait_for_model()
            forking = time.monotonic()
            pool = stack.enter_context(
                WorkerPool(cfg.num_processes, cfg.limits, partial(run_task, carry_parts=True), dispatcher.partitioned)
            )
            log.debug("%d workers started in %.0f ms", cfg.num_processes, (time.monotonic() - forking) * 1000)
            return pool

        prefetch = ThreadPoolExecutor(cfg.num_processes, "ingest-prefetch") if reader.downloads and not broker else None
        if prefetch:
            stack.callback(prefetch.shutdown, cancel_futures=True)

        def progress(listed: int) -> None:
            """The counts so far to the ledger, for those who watch the run (``ingest serve``)."""
            if ledger is not None and run_id is not None:
                ledger.progress(run_id, summary, listed)

        dispatcher = _Dispatcher(cfg, start_pool, writer, indexed or {}, ledger, prefetch, progress)
        shown, total = time.monotonic(), 0
        try:
            for result, total in dispatcher.results(reader):
                summary.add(result)
                if ledger is not None:  # state last: the result's outputs are already durable
                    _record(ledger, result, fingerprint, run_id)
                if time.monotonic() - shown > _PROGRESS_SECONDS:
                    progress(total)
                    shown = time.monotonic()
                if webhooks is not None:
                    webhooks.document(result)
                bar.total = max(total, bar.n + 1)
                if result.status != "skipped":  # the counts shown changed
                    bar.set_postfix(pages=summary.pages, failed=summary.failed, refresh=False)
                bar.update()
                _report(result)
        except BrokerLost as exc:  # what is not done is not recorded: the next run does it
            dispatcher.error = exc.message
        progress(total)
    summary.error = dispatcher.error
    if summary.error:
        log.error("ERROR %s; the next run goes on from here", summary.error)
    summary.seconds = time.monotonic() - started
    return summary


def _report(result: DocumentResult) -> None:
    """A document's line on stderr: failures and refusals always, text lost beyond recovery always, the rest
    with -v."""
    key, coverage = printable(result.ref.key), result.coverage
    if result.status == "failed":
        log.error("FAILED %s [%s] %s: %s", key, result.stage, result.error_type, result.message)
    elif result.status == "empty":
        log.info("empty %s: %s", key, result.message)
    elif result.message and result.status == "processed":
        log.warning("partly read %s: %s", key, result.message)
    elif result.message:
        log.warning("skipped %s: %s", key, result.message)
    elif coverage and coverage.ratio < LOW_COVERAGE:
        pages = ",".join(map(str, coverage.low_pages)) or "none under the threshold"
        log.warning(
            "low text coverage %s: its elements hold %.1f%% of the text layer (pages %s)",
            key,
            100 * coverage.ratio,
            pages,
        )
    else:
        recovered = (
            f" ({len(coverage.recovered_pages)} pages from the text layer)"
            if coverage and coverage.recovered_pages
            else ""
        )
        log.info("%s %s%s", result.status, key, recovered)


def _record(ledger: Ledger, result: DocumentResult, fingerprint: str, run_id: int | None) -> None:
    if result.status == "deleted":
        ledger.forget(result.ref.source_url)
    elif result.error_type not in (GAVE_UP, TOO_LARGE):  # their records stay as they were
        ledger.record(result, fingerprint, run_id)
        if result.status == "processed" and result.outputs:
            ledger.trust(result, fingerprint, result.outputs)


@dataclass
class _Embedding:
    """Under Celery, a document with many chunks on its way through the workers as slices to embed."""

    result: DocumentResult  # what the document's partition task answered
    pending: set[tuple[int, int]]
    failure: DocumentResult | None = None


@dataclass
class _Split:
    """A long PDF on its way through the pool as page ranges."""

    ranges: tuple[tuple[int, int], ...]
    pending: set[tuple[int, int]]
    failure: DocumentResult | None = None
    parts: dict[tuple[int, int], bytes] = field(default_factory=dict)  # the ranges' pickled elements, where carried


class _Dispatcher:
    """Feeds the pool (and the index writer) while the listing streams; at most a few documents wait at once."""

    def __init__(
        self,
        cfg: RunConfig,
        start_pool,
        writer: IndexWriter | None,
        indexed,
        ledger: Ledger | None,
        prefetch: ThreadPoolExecutor | None,
        progress: Callable[[int], None],
    ):
        self.cfg, self.start_pool, self.writer, self.indexed, self.ledger = cfg, start_pool, writer, indexed, ledger
        self.progress = progress  # told how many are listed before each batch of work
        self.prefetch, self.pool, self.reader = prefetch, None, None
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.awaiting_index: dict[str, DocumentResult] = {}
        self.splits: dict[str, _Split] = {}
        self.embeddings: dict[str, _Embedding] = {}
        self.writer_error: DocumentError | None = None
        self.model_loaded = threading.Event()
        self.model_error: ConfigError | None = None
        self.in_flight = 0
        self.error: str | None = None  # the run's own: a listing that broke off, a broker that went away
        if writer:
            writer.forward_replies(self._reply)

    def _reply(self, kind: str | None, source: str | None, error: Exception | None) -> None:
        if kind == "load" or kind is None:
            if error is not None and self.model_error is None:  # before any work: a configuration problem
                self.model_error = error if isinstance(error, ConfigError) else ConfigError(error.message)
            self.model_loaded.set()
        if kind != "load":
            self.events.put((kind, source, error))

    def wait_for_model(self) -> None:
        self.model_loaded.wait()
        if self.model_error:
            raise self.model_error

    def results(self, reader: Reader) -> Iterator[tuple[DocumentResult, int]]:
        self.reader = reader
        workset = WorkSet()
        try:
            yield from self._results(reader, workset)
        finally:
            workset.close()

    def _results(self, reader: Reader, workset: WorkSet) -> Iterator[tuple[DocumentResult, int]]:
        claims, outputs = OutputClaims(workset), Outputs(storage_for(self.cfg), workset, sweep=True)
        waiting: list[Task] = []
        try:
            for ref in reader.list():
                workset.add_listed(ref.source_url)
                result, _ = plan(ref, self.cfg, self.indexed, self.ledger, claims, outputs)
                if result is not None:
                    yield result, workset.listed_count
                    continue
                waiting.append(Task(ref, figures=outputs.under(figures_key(ref.rel_path))))
                if len(waiting) >= _SCHEDULING_WINDOW:
                    yield from self._dispatch(waiting, workset.listed_count)
                    waiting = []
        except ListingError as exc:  # finish what was listed; an incomplete listing deletes nothing
            self.error = exc.message
        listed = workset.listed_count
        yield from self._dispatch(waiting, listed)
        scope = reader.scope() if self.cfg.sync_deletes and not self.error else None
        if scope is not None:
            for source, rel_path in gone(scope, workset, self.indexed, self.ledger, outputs):
                for result in self._delete(source, rel_path):
                    yield result, listed
                yield from self._drain(listed, until=2 * self.cfg.num_processes)
        yield from self._drain(listed, until=1)

    def _dispatch(self, tasks: list[Task], listed: int) -> Iterator[tuple[DocumentResult, int]]:
        """Biggest first (by size: pages are known only once a file is here), so that the run does not end on one
        long document; long PDFs are split besides. With S3, the next documents download while others parse."""
        if tasks:
            self.progress(listed)
        for task in sorted(tasks, key=lambda task: task.ref.size, reverse=True):
            self.pool = self.pool or self.start_pool([waiting.ref.key for waiting in tasks])
            self.in_flight += 1
            if self.prefetch:
                self.prefetch.submit(self._fetch_then_submit, task)
            else:
                self.pool.submit(task, self.cfg)
            yield from self._drain(listed, until=2 * self.cfg.num_processes)

    def _fetch_then_submit(self, task: Task) -> None:
        try:
            self.reader.fetch(task.ref)
            prefetched = True
        except Exception:  # noqa: BLE001 - the worker fetches it again, and reports why that fails
            prefetched = False
        self.pool.submit(dataclasses.replace(task, prefetched=prefetched), self.cfg)

    def _drain(self, listed: int, until: int) -> Iterator[tuple[DocumentResult, int]]:
        """Wait for results while ``until`` or more documents are in flight; take the ready ones anyway."""
        while self.in_flight >= until or not self.events.empty() and self.in_flight:
            for result in self._settle(self.events.get()):
                yield result, listed

    def _delete(self, source: str, rel_path: str) -> Iterator[DocumentResult]:
        ref = DocumentRef(source, source, rel_path, "", 0, "")
        self.in_flight += 1
        try:
            safe_relative_path(rel_path)
        except DocumentError as exc:
            yield from self._finish(failed(ref, exc, "delete"))
            return
        if self.writer and not self.writer_error:  # vectors first, then the files, then the ledger
            self.awaiting_index[source] = DocumentResult(ref, "deleted")
            self.writer.delete(ref)
        else:
            remove_outputs(storage_for(self.cfg), rel_path)
            yield from self._finish(DocumentResult(ref, "deleted"))

    def partitioned(self, task: Task, result: TaskResult) -> None:
        self.events.put(("partitioned", (task, result), None))

    def lost(self, error: str) -> None:
        self.events.put(("lost", None, error))

    def _settle(self, event) -> Iterator[DocumentResult]:
        """Final results, once a document is done with every stage."""
        kind, payload, error = event
        if kind == "lost":
            raise BrokerLost(error)
        if kind == "partitioned":
            task, result = payload
            if isinstance(result, (Split, Part)) or task.kind == "range":
                yield from self._ranges(task, result)
            elif task.kind in ("embed", "vectors"):
                yield from self._embedded(task, result)
            elif result.vectors_pending:
                self._spread(result)
            elif result.status == "empty" and self.writer:  # an earlier version's vectors go
                if self.writer_error:
                    yield from self._index_failed(result, self.writer_error)
                else:
                    self.awaiting_index[result.ref.source_url] = result
                    self.writer.delete(result.ref)
            elif result.records is None or result.status == "failed":
                yield from self._finish(result)
            elif self.writer_error:
                yield from self._index_failed(result, self.writer_error)
            else:
                self.awaiting_index[result.ref.source_url] = result
                self.writer.submit(result.ref, result.records)
        elif kind is None:  # the writer is gone: everything waiting for it fails, and so does what comes later
            self.writer_error = error
            for waiting in list(self.awaiting_index.values()):
                yield from self._index_failed(waiting, error)
            self.awaiting_index.clear()
        else:
            result = self.awaiting_index.pop(payload)
            if error:  # the writer has left no pending output behind
                yield from self._finish(failed(result.ref, error, error.stage))
            elif kind == "delete":  # a deleted or an empty document: its files go after its vectors
                remove_outputs(storage_for(self.cfg), result.ref.rel_path)
                yield from self._finish(result)
            else:  # the writer has committed the element JSON
                yield from self._finish(dataclasses.replace(result, records=None))

    def _ranges(self, task: Task, result: TaskResult) -> Iterator[DocumentResult]:
        """A long PDF's ranges go ahead of whole documents in the queue (``Task.rank``); when all are back, its
        merge goes ahead of both; the first failure fails the document once, naming its pages, after the ranges
        still running are back."""
        source = task.ref.source_url
        if isinstance(result, Split):
            self.splits[source] = _Split(result.ranges, set(result.ranges))
            for pages in result.ranges:
                self.pool.submit(Task(task.ref, "range", pages, result.strategy, figures=task.figures), self.cfg)
            return
        split = self.splits[source]
        split.pending.discard(task.pages)
        if isinstance(result, Part) and result.pickled is not None:
            split.parts[task.pages] = result.pickled
        if isinstance(result, DocumentResult) and split.failure is None:
            first, last = task.pages
            split.failure = dataclasses.replace(result, message=f"pages {first + 1}-{last}: {result.message}")
            split.pending.difference_update(dropped.pages for dropped in self.pool.discard(source))
        if split.pending:
            return
        del self.splits[source]
        if split.failure:
            storage_for(self.cfg).remove_tree(parts_key(source))
            yield from self._finish(split.failure)
        else:
            parts = tuple(split.parts[pages] for pages in split.ranges) if split.parts else ()
            self.pool.submit(Task(task.ref, "merge", ranges=split.ranges, parts=parts, figures=task.figures), self.cfg)

    def _spread(self, result: DocumentResult) -> None:
        """Under Celery, a document with more chunks than ``--embedding-slice``: its slices go to every worker,
        ahead of new documents."""
        size = self.cfg.index.slice_chunks
        slices = [(first, min(first + size, result.chunks)) for first in range(0, result.chunks, size)]
        self.embeddings[result.ref.source_url] = _Embedding(result, set(slices))
        log.info("embedding %s: %d chunks in %d slices", printable(result.ref.key), result.chunks, len(slices))
        for chunks in slices:
            self.pool.submit(Task(result.ref, "embed", chunks=chunks), self.cfg)

    def _embedded(self, task: Task, result: TaskResult) -> Iterator[DocumentResult]:
        """When every slice is embedded, one task stores the vectors and commits the output (embedding nothing
        again); the first failure fails the document once, after the slices still running are back."""
        source = task.ref.source_url
        embedding = self.embeddings[source]
        if task.kind == "vectors":
            del self.embeddings[source]
            done = dataclasses.replace(embedding.result, vectors_pending=False)
            yield from self._finish(result if result.status == "failed" else done)
            return
        embedding.pending.discard(task.chunks)
        if isinstance(result, DocumentResult) and embedding.failure is None:
            embedding.failure = result
            embedding.pending.difference_update(dropped.chunks for dropped in self.pool.discard(source))
        if embedding.pending:
            return
        if embedding.failure:
            del self.embeddings[source]
            discard_pending(storage_for(self.cfg), task.ref.rel_path)
            yield from self._finish(embedding.failure)
        else:
            self.pool.submit(Task(task.ref, "vectors"), self.cfg)

    def _index_failed(self, result: DocumentResult, error: DocumentError) -> Iterator[DocumentResult]:
        """The writer is gone: a document waiting for it fails at its stage, its pending output removed."""
        stage = "index" if result.status == "processed" else "delete"
        if stage == "index":
            discard_pending(storage_for(self.cfg), result.ref.rel_path)
        yield from self._finish(failed(result.ref, DocumentError(error.message, stage, error.error_type), stage))

    def _finish(self, result: DocumentResult) -> Iterator[DocumentResult]:
        self.in_flight -= 1
        yield result


def printable(key: str) -> str:
    """A key as it can be shown on one terminal line, odd bytes escaped."""
    return key if key.isprintable() else key.encode("unicode_escape").decode("ascii")
