"""The Chroma collection: replace one document's chunks, read back what is indexed, query.

A document's chunks have ids made of its URL and their position. Replacing them upserts the new chunks over the
old ids and then deletes any old chunk past the new count, so the collection never holds two versions of a chunk
and never loses a document's chunks in between. Every write goes in batches of at most the client's
``get_max_batch_size()``.
"""
from __future__ import annotations

from dataclasses import dataclass

from ingest.config import IndexConfig
from ingest.errors import ConfigError


@dataclass(frozen=True)
class IndexedDocument:
    version: str
    config: str
    chunk_count: int  # how many chunks the writer meant to store
    stored: int  # how many it holds

    def matches(self, version: str, config: str) -> bool:
        return (self.version, self.config) == (version, config) and self.stored == self.chunk_count


class ChromaIndex:
    def __init__(self, cfg: IndexConfig):
        import chromadb
        from chromadb.config import Settings

        self.cfg = cfg
        settings = Settings(anonymized_telemetry=False)
        try:
            if cfg.chroma_host:
                self.client = chromadb.HttpClient(host=cfg.chroma_host, port=cfg.chroma_port, settings=settings)
                self.client.heartbeat()
            else:
                self.client = chromadb.PersistentClient(path=cfg.chroma_path, settings=settings)
        except Exception as exc:  # noqa: BLE001 - chromadb raises several types for an unreachable server
            raise ConfigError(self._unreachable(exc)) from None
        self.batch_size = self.client.get_max_batch_size()
        self.collection = None

    def open(self, model: str, dimension: int, create: bool = True):
        """Open (or create) the collection and check it was built with vectors of this dimension."""
        name = self.cfg.collection
        try:
            if create:
                self.collection = self.client.get_or_create_collection(
                    name, metadata={"embedding_model": model, "dimension": dimension, "hnsw:space": "cosine"},
                    embedding_function=None)
            else:
                self.collection = self.client.get_collection(name, embedding_function=None)
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(f"Cannot open the Chroma collection {name!r} at {self.cfg.location}: "
                              f"{type(exc).__name__}: {exc}") from None
        metadata = self.collection.metadata or {}
        if create and metadata.get("dimension", dimension) != dimension:
            raise ConfigError(
                f"The Chroma collection {name!r} at {self.cfg.location} holds {metadata['dimension']}-dimensional "
                f"vectors from {metadata.get('embedding_model')!r}, but {model!r} makes {dimension}-dimensional "
                "ones: choose another --collection or the collection's model")
        return self.collection

    def existing(self) -> dict[str, IndexedDocument]:
        """What an existing collection holds; nothing, and nothing created, when there is none yet."""
        try:
            self.collection = self.client.get_collection(self.cfg.collection, embedding_function=None)
        except Exception:  # noqa: BLE001 - chromadb raises NotFoundError or ValueError for a missing collection
            return {}
        return self.indexed()

    def indexed(self) -> dict[str, IndexedDocument]:
        """What the collection holds, per source URL: read page by page, metadata only."""
        found: dict[str, list] = {}
        offset = 0
        while True:
            page = self.collection.get(include=["metadatas"], limit=self.batch_size, offset=offset)
            for metadata in page["metadatas"]:
                entry = found.setdefault(metadata["source"], [metadata.get("version"), metadata.get("ingest_config"),
                                                              metadata.get("chunk_count", -1), 0])
                if (entry[0], entry[1]) != (metadata.get("version"), metadata.get("ingest_config")):
                    entry[2] = -1  # two versions side by side: never complete
                entry[3] += 1
            if len(page["ids"]) < self.batch_size:
                break
            offset += self.batch_size
        return {source: IndexedDocument(*entry) for source, entry in found.items()}

    def replace(self, source: str, records: list[dict], embeddings: list[list[float]]) -> None:
        for start in range(0, len(records), self.batch_size):
            batch = records[start:start + self.batch_size]
            self.collection.upsert(
                ids=[r["id"] for r in batch],
                documents=[r["text"] for r in batch],
                metadatas=[r["metadata"] for r in batch],
                embeddings=embeddings[start:start + self.batch_size],
            )
        self.collection.delete(where={"$and": [{"source": source}, {"chunk_index": {"$gte": len(records)}}]})

    def delete(self, source: str) -> None:
        if self.collection is not None:
            self.collection.delete(where={"source": source})

    def query(self, embedding: list[float], k: int) -> list[tuple[str, dict, float]]:
        result = self.collection.query(query_embeddings=[embedding], n_results=k,
                                       include=["documents", "metadatas", "distances"])
        return list(zip(result["documents"][0], result["metadatas"][0], result["distances"][0]))

    def _unreachable(self, exc: Exception) -> str:
        if self.cfg.chroma_host:
            return (f"Cannot reach the Chroma server at {self.cfg.location}: start it (chroma run --host "
                    f"{self.cfg.chroma_host} --port {self.cfg.chroma_port} --path DIR) or check --chroma-host "
                    "and --chroma-port")
        return f"Cannot open the Chroma store at {self.cfg.chroma_path}: {type(exc).__name__}: {exc}"
