"""The index writer: one process that owns the embedding model and the Chroma client.

Workers partition and chunk; their chunk records come here, are embedded in batches that span documents, and are
written to Chroma by this one writer. Keeping torch and Chroma out of the driver also keeps them out of every
forked worker (a fork after either has started its threads can hang the child); the writer itself is spawned,
so it inherits no threads or locks from whatever the driver has imported.
"""
from __future__ import annotations

import queue
import signal
import threading
from typing import Callable

import multiprocess

from connectors.chroma import ChromaIndex, IndexedDocument, transient
from ingest.config import IndexConfig
from ingest.errors import ConfigError
from ingest.process import die_with_parent

_STOP = None
_TEXTS_PER_ROUND = 512  # embed this many texts at a time at most, across documents


def _serve(cfg: IndexConfig, requests, replies) -> None:
    """Open the store and report what it holds at once; load the model only when told to (``load``): a rerun
    with nothing to embed never pays for torch."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's; it stops the writer with _STOP
    die_with_parent()
    try:
        index = ChromaIndex(cfg)
        replies.put(("ready", index.existing()))
    except ConfigError as exc:
        replies.put(("error", exc.message))
        return
    except Exception as exc:  # noqa: BLE001 - reported to the driver as a configuration error
        replies.put(("error", f"The vector index could not start: {type(exc).__name__}: {exc}"))
        return
    embedder = None
    while True:
        batch = [requests.get()]
        if batch[0] is not _STOP and batch[0][0] == "load":
            try:
                embedder = _load_model(cfg, index)
                replies.put(("load", None, None))
                continue
            except Exception as exc:  # noqa: BLE001 - the driver turns this into exit 2 before any work
                replies.put(("load", None, exc.message if isinstance(exc, ConfigError) else
                             f"The embedding model could not start: {type(exc).__name__}: {exc}"))
                return
        while batch[-1] is not _STOP and sum(map(_texts, batch)) < _TEXTS_PER_ROUND:
            try:
                batch.append(requests.get_nowait())
            except queue.Empty:
                break
        work = [message for message in batch if message is not _STOP]
        texts = [r["text"] for kind, _, records in work if kind == "index" for r in records]
        try:
            vectors = embedder.encode(texts) if texts else []
            embed_error = None
        except Exception as exc:  # noqa: BLE001 - the documents of this round fail; the writer goes on
            vectors, embed_error = [], f"{type(exc).__name__}: {exc}"
        offset = 0
        for kind, source, records in work:  # in arrival order: a delete never overtakes an earlier write
            try:
                if kind == "delete":
                    index.delete(source)
                elif embed_error:
                    raise RuntimeError(embed_error)
                else:
                    index.replace(source, records, vectors[offset:offset + len(records)])
                    offset += len(records)
                replies.put((kind, source, None))
            except Exception as exc:  # noqa: BLE001 - one document's failure is a result
                replies.put((kind, source, store_error(exc, cfg)))
        if batch[-1] is _STOP:
            return


def store_error(exc: Exception, cfg: IndexConfig) -> str:
    """``"Type: message"`` for a document whose vectors could not be stored."""
    detail = (str(exc).splitlines() or [""])[0]
    if transient(exc):
        detail = (f"the Chroma server at {cfg.location} did not answer after {cfg.retries} retries ({detail}); "
                  "the next run tries again")
    return f"{type(exc).__name__}: {detail}"


def _load_model(cfg: IndexConfig, index: ChromaIndex):
    import torch

    torch.set_num_threads(max(1, multiprocess.cpu_count()))
    from ingest.embedding import Embedder

    embedder = Embedder(cfg.model, cfg.device, cfg.batch_size)
    index.open(cfg.model, embedder.dimension)
    return embedder


def _texts(message) -> int:
    return len(message[2]) if message is not _STOP and message[0] == "index" else 0


class IndexWriter:
    """The driver's handle on the writer process."""

    def __init__(self, cfg: IndexConfig):
        context = multiprocess.get_context("spawn")  # a fresh interpreter: nothing inherited can hang it
        self._requests = context.Queue()
        self._replies = context.Queue()
        self._process = context.Process(target=_serve, args=(cfg, self._requests, self._replies), daemon=True,
                                        name="ingest-index-writer")
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
                    raise ConfigError("The vector index writer died while starting (out of memory?); "
                                      "run with -vv for details") from None
        if kind == "error":
            self._process.join(5)
            raise ConfigError(payload)
        return payload

    def load(self) -> None:
        """Load the embedding model and create or check the collection; replied to as ("load", None, error)."""
        self._requests.put(("load", None, None))

    def submit(self, source: str, records: list[dict]) -> None:
        """Embed and store ``records`` as the chunks of ``source``; replied to as ("index", source, error)."""
        self._requests.put(("index", source, records))

    def delete(self, source: str) -> None:
        """Remove every chunk of ``source``; replied to as ("delete", source, error)."""
        self._requests.put(("delete", source, None))

    def forward_replies(self, deliver: Callable[[str, str | None, str | None], None]) -> threading.Thread:
        """Hand every ``(kind, source, error)`` reply to ``deliver`` from a thread; a dead writer is reported
        once as ``(None, None, error)``."""
        def pump():
            while True:
                try:
                    kind, source, error = self._replies.get(timeout=1)
                except queue.Empty:
                    if self._process.is_alive():
                        continue
                    if not self._closing.is_set():
                        deliver(None, None, "the index writer process died")
                    return
                except (EOFError, OSError):
                    return
                deliver(kind, source, error)

        thread = threading.Thread(target=pump, daemon=True, name="ingest-index-replies")
        thread.start()
        return thread

    def close(self) -> None:
        self._closing.set()
        if self._process.is_alive():
            self._requests.put(_STOP)
            self._process.join(60)
        if self._process.is_alive():
            self._process.terminate()
