"""The local run's index writer: one process that owns the embedding model and the vector index.

Workers partition and chunk; their chunk records come here and go through ``store_vectors`` in rounds that span
documents. Keeping torch and Chroma out of the driver also keeps them out of every forked worker (a fork after
either has started its threads can hang the child); the writer itself is spawned, so it inherits no threads or
locks from whatever the driver has imported. Errors come back as the exceptions they are (they pickle).
"""

from __future__ import annotations

import itertools
import os
import queue
import signal
import threading
from collections.abc import Callable

import multiprocess

from ingest.config import RunConfig
from ingest.embedding import use_threads
from ingest.errors import ConfigError, DocumentError
from ingest.models import DocumentRef
from ingest.pools.forking import die_with_parent
from ingest.writers.base import IndexedDocument
from ingest.writers.vectors import delete_vectors, load, store_vectors, vector_index

_STOP = None
_TEXTS_PER_ROUND = 512  # embed this many texts at a time at most, across documents


def _serve(cfg: RunConfig, requests, replies, driver: int) -> None:
    """Report what the index holds at once; load the model only when told to (``load``): a rerun with nothing to
    embed never pays for torch. Then store and delete, in arrival order, until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's; it stops the writer with _STOP
    die_with_parent(driver)
    try:
        replies.put(("ready", vector_index(cfg.index).check()))
    except Exception as exc:  # noqa: BLE001 - reported to the driver as a configuration error
        replies.put(("error", _config_error(exc, "The vector index could not start")))
        return
    while True:
        batch = [requests.get()]
        if batch[0] is not _STOP and batch[0][0] == "load":
            try:
                use_threads(multiprocess.cpu_count())
                load(cfg.index)
                replies.put(("load", None, None))
                continue
            except Exception as exc:  # noqa: BLE001 - the driver turns this into exit 2 before any work
                replies.put(("load", None, _config_error(exc, "The embedding model could not start")))
                return
        while batch[-1] is not _STOP and sum(map(_texts, batch)) < _TEXTS_PER_ROUND:
            try:
                batch.append(requests.get_nowait())
            except queue.Empty:
                break
        work = [message for message in batch if message is not _STOP]
        for kind, group in itertools.groupby(work, key=lambda message: message[0]):  # a delete never overtakes
            group = list(group)
            if kind == "index":
                errors = store_vectors(cfg, [(ref, records) for _, ref, records in group])
            else:
                errors = [delete_vectors(cfg.index, ref.source_url) for _, ref, _ in group]
            for (_, ref, _), error in zip(group, errors, strict=False):
                replies.put((kind, ref.source_url, error))
        if batch[-1] is _STOP:
            return


def _config_error(exc: Exception, what: str) -> ConfigError:
    return exc if isinstance(exc, ConfigError) else ConfigError(f"{what}: {type(exc).__name__}: {exc}")


def _texts(message) -> int:
    return len(message[2]) if message is not _STOP and message[0] == "index" else 0


class IndexWriter:
    """The driver's handle on the writer process."""

    def __init__(self, cfg: RunConfig):
        context = multiprocess.get_context("spawn")  # a fresh interpreter: nothing inherited can hang it
        self._requests = context.Queue()
        self._replies = context.Queue()
        self._process = context.Process(
            target=_serve,
            args=(cfg, self._requests, self._replies, os.getpid()),
            daemon=True,
            name="ingest-index-writer",
        )
        self._closing = threading.Event()

    def start(self) -> dict[str, IndexedDocument]:
        """Start the writer and return what the collection holds; an unreachable store stops the run (exit 2)."""
        self._process.start()
        while True:
            try:
                kind, payload = self._replies.get(timeout=1)
                break
            except queue.Empty:
                if not self._process.is_alive():
                    raise ConfigError(
                        "The vector index writer died while starting (out of memory?); run with -vv for details"
                    ) from None
        if kind == "error":
            self._process.join(5)
            raise payload
        return payload

    def load(self) -> None:
        """Load the embedding model and create or check the collection; replied to as ("load", None, error)."""
        self._requests.put(("load", None, None))

    def submit(self, ref: DocumentRef, records: list[dict]) -> None:
        """Store ``records`` as the chunks of ``ref`` and commit its element JSON; replied to as
        ("index", source_url, error)."""
        self._requests.put(("index", ref, records))

    def delete(self, ref: DocumentRef) -> None:
        """Remove every chunk of ``ref``; replied to as ("delete", source_url, error)."""
        self._requests.put(("delete", ref, None))

    def forward_replies(self, deliver: Callable[[str | None, str | None, Exception | None], None]) -> None:
        """Hand every ``(kind, source_url, error)`` reply to ``deliver`` from a thread; a dead writer is reported
        once as ``(None, None, error)``."""

        def pump():
            while True:
                try:
                    kind, source, error = self._replies.get(timeout=1)
                except queue.Empty:
                    if self._process.is_alive():
                        continue
                    if not self._closing.is_set():
                        deliver(None, None, DocumentError("the index writer process died", "index", "WriterDied"))
                    return
                except (EOFError, OSError):
                    return
                deliver(kind, source, error)

        threading.Thread(target=pump, daemon=True, name="ingest-index-replies").start()

    def close(self) -> None:
        self._closing.set()
        if self._process.is_alive():
            self._requests.put(_STOP)
            self._process.join(60)
        if self._process.is_alive():
            self._process.terminate()
