"""The records of a run: what users see (DocumentRef, DocumentResult, RunSummary) and what travels between the
driver and the workers (Task, and a long PDF's Split and Part). Small, plain and picklable."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DocumentRef:
    """One listed document: where it lives and which version of it the listing saw."""

    source_url: str  # s3://bucket/key or an absolute local path
    key: str  # the object key (or the path below the local root)
    rel_path: str  # the key relative to the listed prefix: the output mirrors it
    version: str  # S3 ETag, or size and mtime for a local file
    size: int
    last_modified: str  # ISO 8601, UTC


RANKS = ("merge", "range", "document")  # task kinds in queue order: see Task.rank


@dataclass(frozen=True)
class Task:
    """One unit of a worker's work: a whole document, one page range of a PDF too long to do in one piece, or the
    merge of those ranges into the document's outputs."""

    ref: DocumentRef
    kind: str = "document"  # "document" | "range" | "merge"
    pages: tuple[int, int] = (0, 0)  # a range's pages, [first, last) counted from 0
    strategy: str = ""  # a range's strategy: the one the whole document resolved to
    ranges: tuple[tuple[int, int], ...] = ()  # a merge's ranges, in page order
    prefetched: bool = False  # the driver has downloaded the object already
    parts: tuple[bytes, ...] = field(default=(), repr=False)  # a merge's ranges' elements, where the pool carries them

    @property
    def rank(self) -> int:
        """Queue order: a long PDF's merge (its ranges are done: finish it), then ranges (so that a long PDF does
        not end the run), then whole documents; first come, first served within a rank."""
        return RANKS.index(self.kind)


@dataclass(frozen=True)
class Split:
    """A worker's answer to a PDF longer than ``--split-pages``: the page ranges to partition apart, as ``range``
    tasks, with the strategy the whole document resolved to."""

    ref: DocumentRef
    ranges: tuple[tuple[int, int], ...]
    strategy: str
    seconds: float = 0.0


@dataclass(frozen=True)
class Part:
    """A worker's answer to a ``range`` task: the range is partitioned and its elements wait for the merge, in
    ``pickled`` where the pool carries them, else in the shared parts folder."""

    ref: DocumentRef
    pages: tuple[int, int]
    elements: int = 0
    seconds: float = 0.0
    pickled: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class DocumentResult:
    """How a document ended, as users see it (the summary, the ledger, webhooks)."""

    ref: DocumentRef
    status: str  # "processed" | "skipped" | "failed" | "deleted"
    stage: str | None = None  # where it failed: plan, fetch, partition, chunk, write, index, delete
    error_type: str | None = None
    message: str | None = None
    transient: bool = False
    pages: int = 0
    elements: int = 0
    chunks: int = 0
    seconds: float = 0.0
    output_path: str | None = None
    records: list[dict] | None = field(default=None, repr=False)  # chunk records on their way to the index


TaskResult = DocumentResult | Split | Part  # what a worker answers to a Task


@dataclass
class RunSummary:
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    deleted: int = 0
    pages: int = 0
    chunks: int = 0
    seconds: float = 0.0
    failures: list[DocumentResult] = field(default_factory=list)
    too_large: list[DocumentResult] = field(default_factory=list)  # skipped by --max-file-size
    error: str | None = None  # the run's own failure (a listing that broke off), beside the documents'

    def add(self, result: DocumentResult) -> None:
        if result.status == "failed":
            self.failed += 1
            self.failures.append(result)
        elif result.status == "skipped":
            self.skipped += 1
            if result.error_type:
                self.too_large.append(result)
        elif result.status == "deleted":
            self.deleted += 1
        else:
            self.processed += 1
            self.pages += result.pages
            self.chunks += result.chunks

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.error else 0

    def line(self) -> str:
        too_large = f" ({len(self.too_large)} over --max-file-size)" if self.too_large else ""
        return (
            f"{self.processed} processed, {self.skipped} skipped{too_large}, {self.failed} failed, "
            f"{self.deleted} deleted, {self.pages} pages, {self.chunks} chunks in {self.seconds:.1f} s"
        )

    def to_dict(self) -> dict:
        return {
            "processed": self.processed,
            "skipped": self.skipped,
            "failed": self.failed,
            "deleted": self.deleted,
            "pages": self.pages,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "exit_code": self.exit_code,
            "error": self.error,
            "failures": [
                {
                    "key": r.ref.key,
                    "source_url": r.ref.source_url,
                    "stage": r.stage,
                    "error_type": r.error_type,
                    "message": r.message,
                }
                for r in self.failures
            ],
            "too_large": [
                {"key": r.ref.key, "source_url": r.ref.source_url, "size": r.ref.size} for r in self.too_large
            ],
        }
