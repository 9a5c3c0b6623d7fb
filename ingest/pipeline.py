"""The whole path of one document in a worker: fetch, partition, chunk, write. Takes a reference, never bytes.
Its vectors are stored afterwards by ``writers.vectors.store_vectors`` (in the local index writer, or in the same
Celery task)."""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from functools import lru_cache

from ingest.chunking import chunk, chunk_records
from ingest.config import RunConfig
from ingest.errors import DocumentError
from ingest.models import DocumentRef, DocumentResult, Part, Split, Task, TaskResult
from ingest.partition import finished, partition_file
from ingest.partition.pages import merged, page_ranges, partition_pages
from ingest.readers import make_reader
from ingest.redact import redact
from ingest.writers.elements import (
    chunks_key,
    identities,
    output_key,
    parts_key,
    pending_key,
    read_part,
    remove_outputs,
    write_chunks,
    write_elements,
    write_part,
)
from ingest.writers.figures import write_figures
from ingest.writers.storage import storage_for


@lru_cache(maxsize=2)
def _reader(cfg: RunConfig):
    return make_reader(cfg)


def run_task(
    task: Task, cfg: RunConfig, on_stage: Callable[[str], None] = lambda stage: None, carry_parts: bool = False
) -> TaskResult:
    """A worker's whole job for one task. A document is fetched, partitioned, chunked and written; or, for a PDF
    longer than ``--split-pages``, answered with its page ranges (a ``Split``), which come back as ``range`` tasks
    (each answered with a ``Part``) and then one ``merge`` task, which writes the document's outputs exactly as an
    unsplit run would. A range's elements wait for the merge as element JSON in the document's parts folder, which
    workers on other machines share; or, with ``carry_parts`` (the local pool, whose workers and pipes are this
    run's own), pickled in the Part and then in the merge task, at less than half the cost. With vectors on, the
    element JSON is left pending until the vectors are stored. ``on_stage`` hears each stage as it starts (the pool
    names it when a task is abandoned)."""
    started = time.monotonic()
    ref, stage, records, outputs = task.ref, "plan", None, None
    filename = ref.key.rsplit("/", 1)[-1]

    def enter(name: str) -> str:
        on_stage(name)
        return name

    try:
        out, parts, store = output_key(ref.rel_path), parts_key(ref.source_url), storage_for(cfg)
        reader = _reader(cfg)
        stage = enter("fetch")
        local = reader.fetch(ref, reuse=task.prefetched or task.kind != "document")
        stage = enter("partition")
        if task.kind == "range":
            elements = partition_pages(local, filename, cfg.partition, task.pages, task.strategy)
            stage = enter("write")
            pickled = pickle.dumps(elements, pickle.HIGHEST_PROTOCOL) if carry_parts else None
            if pickled is None:
                write_part(store, parts, task.pages, elements)
            return Part(ref, task.pages, len(elements), time.monotonic() - started, pickled)
        if task.kind == "merge":
            pieces = (
                [pickle.loads(part) for part in task.parts]
                if task.parts
                else [read_part(store, parts, pages) for pages in task.ranges]
            )
            done = finished(merged(pieces), local, filename, cfg.partition)
        else:
            ranges, strategy = page_ranges(local, cfg.partition, cfg.split_pages, cfg.num_processes)
            if ranges:
                return Split(ref, ranges, strategy, time.monotonic() - started)
            done = partition_file(local, filename, cfg.partition)
        elements, pages, empty = done.elements, done.pages, done.empty
        fingerprint = cfg.fingerprint()
        if not empty:
            stage = enter("write")
            write_figures(store, ref.rel_path, elements, cfg.partition.images, task.figures)
        if cfg.chunks_enabled and not empty:
            stage = enter("chunk")
            records = chunk_records(chunk(elements, cfg.chunk), ref, fingerprint)
        stage = enter("write")
        if empty:  # no text at all: no outputs (an earlier version's go), no vectors
            remove_outputs(store, ref.rel_path, task.figures)
        else:  # the chunk file first: the element JSON is the output whose stamp says the document is done
            chunk_file = write_chunks(store, chunks_key(ref.rel_path), records) if records is not None else None
            element_file = write_elements(
                store, pending_key(out) if cfg.index.enabled else out, elements, ref, fingerprint
            )
            outputs = identities([element_file] if chunk_file is None else [element_file, chunk_file])
        if task.kind == "merge":
            store.remove_tree(parts)
        if reader.downloads and not cfg.preserve_downloads:
            local.unlink(missing_ok=True)
    except Exception as exc:  # noqa: BLE001 - one document's failure is a result, never the run's end
        return failed(ref, exc, stage, time.monotonic() - started)
    if empty:
        return DocumentResult(
            ref, "empty", message=empty, pages=pages, seconds=time.monotonic() - started, coverage=done.coverage
        )
    return DocumentResult(
        ref,
        "processed",
        pages=pages,
        elements=len(elements),
        chunks=len(records or ()),
        seconds=time.monotonic() - started,
        output_path=store.location(out),
        coverage=done.coverage,
        message="; ".join(done.unread) or None,
        outputs=outputs,
        records=records if cfg.index.enabled else None,
    )


def failed(ref: DocumentRef, exc: Exception, stage: str, seconds: float = 0.0) -> DocumentResult:
    """A document's failure as a result; its message goes to logs, the ledger and the summary, so it is redacted."""
    if isinstance(exc, DocumentError):
        return DocumentResult(
            ref, "failed", exc.stage, exc.error_type, redact(exc.message), exc.transient, seconds=seconds
        )
    message = (str(exc).strip().splitlines() or [""])[0][:300] or repr(exc)
    return DocumentResult(ref, "failed", stage, type(exc).__name__, redact(message), seconds=seconds)
