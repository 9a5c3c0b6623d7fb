"""The VectorIndex over Chroma (embedded or a server): replace one document's chunks, read back what is indexed,
query.

A document's chunks have ids made of its URL and their position. Replacing them upserts the new chunks over the
old ids and then deletes any old chunk past the new count, so the collection never holds two versions of a chunk
and never loses a document's chunks in between. Every write goes in batches of at most the client's
``get_max_batch_size()``.
"""

from __future__ import annotations

from pathlib import Path

from ingest.config import IndexConfig
from ingest.errors import ConfigError
from ingest.retry import retrying
from ingest.writers.base import IndexedDocument


def transient(exc: BaseException) -> bool:
    """A Chroma server that is down, restarting or overloaded: worth another try. chromadb raises httpx's transport
    errors, its own errors with a status code, a bare Exception for a 5xx without Chroma's JSON (as a proxy in front
    of the server answers), and wraps any of these in a ValueError while connecting: the chain is searched."""
    import httpx
    from chromadb.errors import ChromaError

    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, httpx.TransportError):
            return True
        if isinstance(exc, ChromaError):
            return exc.code() >= 500
        if isinstance(exc, httpx.HTTPStatusError):
            return exc.response.status_code >= 500
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


class ChromaIndex:
    """Every call to a Chroma server is retried while the server is down or overloaded (``transient``); the
    embedded store's errors are never transient."""

    def __init__(self, cfg: IndexConfig):
        self.cfg = cfg
        self.retry = retrying(cfg.retries, transient)
        self._client = None
        self.collection = None

    @property
    def client(self):
        """Connected on first use, so that a look at a store that does not exist creates nothing."""
        if self._client is None:
            try:
                self._client = self.retry(self._connect)
            except Exception as exc:  # noqa: BLE001 - chromadb raises several types for an unreachable server
                raise ConfigError(self._unreachable(exc)) from None
            self.batch_size = self._client.get_max_batch_size()
        return self._client

    @property
    def metadata(self) -> dict:
        return (self.collection.metadata if self.collection is not None else None) or {}

    def _connect(self):
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        if not self.cfg.chroma_host:
            return chromadb.PersistentClient(path=self.cfg.chroma_path, settings=settings)
        client = chromadb.HttpClient(host=self.cfg.chroma_host, port=self.cfg.chroma_port, settings=settings)
        client.heartbeat()
        client.get_max_batch_size()  # fetched once, here, where a failure is retried
        return client

    def open(self, model: str, dimension: int, create: bool = True) -> None:
        """Open (or create) the collection and check it was built with vectors of this dimension."""
        name = self.cfg.collection
        if not create and not self._store_exists():
            raise ConfigError(f"No Chroma store at {self.cfg.chroma_path}: run ingest first, or give --chroma-path")
        try:
            if create:
                self.collection = self.retry(
                    self.client.get_or_create_collection,
                    name,
                    metadata={"embedding_model": model, "dimension": dimension, "hnsw:space": "cosine"},
                    embedding_function=None,
                )
            else:
                self.collection = self.retry(self.client.get_collection, name, embedding_function=None)
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(
                f"Cannot open the Chroma collection {name!r} at {self.cfg.location}: {type(exc).__name__}: {exc}"
            ) from None
        metadata = self.collection.metadata or {}
        if create and metadata.get("dimension", dimension) != dimension:
            raise ConfigError(
                f"The Chroma collection {name!r} at {self.cfg.location} holds {metadata['dimension']}-dimensional "
                f"vectors from {metadata.get('embedding_model')!r}, but {model!r} makes {dimension}-dimensional "
                "ones: choose another --collection or the collection's model"
            )
        if create and metadata.get("embedding_model", model) != model:
            raise ConfigError(
                f"The Chroma collection {name!r} at {self.cfg.location} holds vectors from "
                f"{metadata['embedding_model']!r}, not {model!r}: choose another --collection, or the collection's "
                "--embedding-model and --embedding-backend (a name ending in (bf16) or (int8) is that backend's)"
            )

    def check(self) -> dict[str, IndexedDocument]:
        """What an existing collection holds; nothing, and nothing created, when there is none yet."""
        if not self._store_exists():
            return {}
        try:
            self.collection = self.retry(self.client.get_collection, self.cfg.collection, embedding_function=None)
        except Exception as exc:  # noqa: BLE001 - chromadb raises NotFoundError or ValueError for a missing one
            if transient(exc):
                raise ConfigError(self._unreachable(exc)) from None
            return {}
        return self.indexed()

    def indexed(self) -> dict[str, IndexedDocument]:
        """What the collection holds, per source URL: read page by page, metadata only."""
        found: dict[str, list] = {}
        offset = 0
        while True:
            page = self.retry(self.collection.get, include=["metadatas"], limit=self.batch_size, offset=offset)
            for metadata in page["metadatas"]:
                entry = found.setdefault(
                    metadata["source"],
                    [metadata.get("version"), metadata.get("ingest_config"), metadata.get("chunk_count", -1), 0],
                )
                if (entry[0], entry[1]) != (metadata.get("version"), metadata.get("ingest_config")):
                    entry[2] = -1  # two versions side by side: never complete
                entry[3] += 1
            if len(page["ids"]) < self.batch_size:
                break
            offset += self.batch_size
        return {source: IndexedDocument(*entry) for source, entry in found.items()}

    def replace(self, source: str, records: list[dict], embeddings: list[list[float]]) -> None:
        self.upsert(records, embeddings)
        self.retry(
            self.collection.delete, where={"$and": [{"source": source}, {"chunk_index": {"$gte": len(records)}}]}
        )

    def upsert(self, records: list[dict], embeddings: list[list[float]]) -> None:
        for start in range(0, len(records), self.batch_size):
            batch = records[start : start + self.batch_size]
            self.retry(
                self.collection.upsert,
                ids=[r["id"] for r in batch],
                documents=[r["text"] for r in batch],
                metadatas=[r["metadata"] for r in batch],
                embeddings=embeddings[start : start + self.batch_size],
            )

    def vectors(self, sources: list[str]) -> dict[str, list[float]]:
        """Read page by page; one query for all of ``sources``."""
        found: dict[str, list[float]] = {}
        offset = 0
        while True:
            page = self.retry(
                self.collection.get,
                where={"source": {"$in": sources}},
                include=["documents", "embeddings"],
                limit=self.batch_size,
                offset=offset,
            )
            for text, vector in zip(page["documents"], page["embeddings"], strict=True):
                found[text] = vector.tolist()
            if len(page["ids"]) < self.batch_size:
                return found
            offset += self.batch_size

    def delete(self, source: str) -> None:
        if self.collection is not None:
            self.retry(self.collection.delete, where={"source": source})

    def query(self, embedding: list[float], k: int) -> list[tuple[str, dict, float]]:
        result = self.retry(
            self.collection.query,
            query_embeddings=[embedding],
            n_results=k,
            include=["documents", "metadatas", "distances"],
        )
        return list(zip(result["documents"][0], result["metadatas"][0], result["distances"][0], strict=False))

    def explain(self, exc: Exception) -> str:
        detail = getattr(exc, "message", None) or (str(exc).splitlines() or [""])[0]
        if transient(exc):
            return (
                f"the Chroma server at {self.cfg.location} did not answer after {self.cfg.retries} retries "
                f"({detail}); the next run tries again"
            )
        return detail

    def _store_exists(self) -> bool:
        return bool(self.cfg.chroma_host) or Path(self.cfg.chroma_path).is_dir()

    def _unreachable(self, exc: Exception) -> str:
        if self.cfg.chroma_host:
            return (
                f"Cannot reach the Chroma server at {self.cfg.location}: start it (chroma run --host "
                f"{self.cfg.chroma_host} --port {self.cfg.chroma_port} --path DIR) or check --chroma-host "
                "and --chroma-port"
            )
        return f"Cannot open the Chroma store at {self.cfg.chroma_path}: {type(exc).__name__}: {exc}"
