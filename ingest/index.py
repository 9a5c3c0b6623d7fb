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

from connectors.chroma import ChromaIndex, IndexedDocument
from ingest.config import IndexConfig
from ingest.errors import ConfigError

_STOP = None
_TEXTS_PER_ROUND = 512  # embed this many texts at a time at most, across documents


def _serve(cfg: IndexConfig, requests, replies) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's; it stops the writer with _STOP
    try:
        import torch

        torch.set_num_threads(max(1, multiprocess.cpu_count()))
        from ingest.embedding import Embedder

        embedder = Embedder(cfg.model, cfg.device, cfg.batch_size)
        index = ChromaIndex(cfg)
        index.open(cfg.model, embedder.dimension)
        replies.put(("ready", index.indexed()))
    except ConfigError as exc:
        replies.put(("error", exc.message))
        return
    except Exception as exc:  # noqa: BLE001 - reported to the driver as a configuration error
        replies.put(("error", f"The vector index could not start: {type(exc).__name__}: {exc}"))
        return
    while True:
        batch = [requests.get()]
        texts = len(batch[0][1]) if batch[0] is not _STOP else 0
        while batch[-1] is not _STOP and texts < _TEXTS_PER_ROUND:
            try:
                batch.append(requests.get_nowait())
            except queue.Empty:
                break
            texts += len(batch[-1][1]) if batch[-1] is not _STOP else 0
        stop = batch[-1] is _STOP
        documents = [item for item in batch if item is not _STOP]
        try:
            vectors = embedder.encode([r["text"] for _, records in documents for r in records])
        except Exception as exc:  # noqa: BLE001 - the documents of this round fail; the writer goes on
            for source, _ in documents:
                replies.put(("indexed", source, f"{type(exc).__name__}: {exc}"))
            vectors = None
        offset = 0
        for source, records in documents if vectors is not None else ():
            try:
                index.replace(source, records, vectors[offset:offset + len(records)])
                replies.put(("indexed", source, None))
            except Exception as exc:  # noqa: BLE001 - one document's failure is a result
                replies.put(("indexed", source, f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"))
            offset += len(records)
        if stop:
            return


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
        """Start the writer; it loads the model and opens the collection, or the run stops with exit 2."""
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

    def submit(self, source: str, records: list[dict]) -> None:
        self._requests.put((source, records))

    def forward_replies(self, deliver: Callable[[str, str | None], None]) -> threading.Thread:
        """Hand every ``(source, error)`` reply to ``deliver`` from a thread; a dead writer fails what is left."""
        def pump():
            while True:
                try:
                    _, source, error = self._replies.get(timeout=1)
                except queue.Empty:
                    if self._process.is_alive():
                        continue
                    if not self._closing.is_set():
                        deliver(None, "the index writer process died")
                    return
                except (EOFError, OSError):
                    return
                deliver(source, error)

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
