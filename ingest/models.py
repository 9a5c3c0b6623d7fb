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


LOW_COVERAGE = 0.9  # a processed PDF whose elements hold less of its text layer is listed in the summary
RANKS = ("merge", "range", "document")  # task kinds in queue order: see Task.rank


@dataclass(frozen=True)
class Task:
    """One unit of a worker's work: a whole document, one page range of a PDF too long to do in one piece, or the
    merge of those ranges into the document's outputs; under Celery, a slice of a document's many chunks to embed
    (``embed``), then the storing of all its vectors (``vectors``)."""

    ref: DocumentRef
    kind: str = "document"  # "document" | "range" | "merge" | "embed" | "vectors"
    pages: tuple[int, int] = (0, 0)  # a range's pages, [first, last) counted from 0
    strategy: str = ""  # a range's strategy: the one the whole document resolved to
    ranges: tuple[tuple[int, int], ...] = ()  # a merge's ranges, in page order
    prefetched: bool = False  # the driver has downloaded the object already
    parts: tuple[bytes, ...] = field(default=(), repr=False)  # a merge's ranges' elements, where the pool carries them
    chunks: tuple[int, int] = (0, 0)  # an embed task's chunks, [first, last)
    figures: bool = True  # the outputs' listing holds files in the document's figures folder (to replace or remove)

    @property
    def rank(self) -> int:
        """Queue order: a long PDF's merge (its ranges are done: finish it) and a document's embedding, then ranges
        (so that a long PDF does not end the run), then whole documents; first come, first served within a rank."""
        return RANKS.index(self.kind) if self.kind in RANKS else 0


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
class Embedded:
    """A worker's answer to an ``embed`` task: the vectors of these chunks are in the index."""

    ref: DocumentRef
    chunks: tuple[int, int]
    embedded: int = 0  # texts embedded (the others' vectors were in the index already)
    seconds: float = 0.0


@dataclass(frozen=True)
class Coverage:
    """How much of a PDF's text layer its elements hold (characters, whitespace aside), and which pages were
    partitioned again from the text layer because the partitioner had lost them."""

    layer: int = 0  # characters in the text layer
    kept: int = 0  # of those, held by the elements
    recovered_pages: tuple[int, ...] = ()  # numbered from 1
    low_pages: tuple[int, ...] = ()  # pages still under the threshold after that

    @property
    def ratio(self) -> float:
        return self.kept / self.layer if self.layer else 1.0

    def to_dict(self) -> dict:
        return {
            "ratio": round(self.ratio, 4),
            "text_layer_characters": self.layer,
            "characters_kept": self.kept,
            "recovered_pages": list(self.recovered_pages),
            "low_pages": list(self.low_pages),
        }


@dataclass(frozen=True)
class DocumentResult:
    """How a document ended, as users see it (the summary, the ledger, webhooks)."""

    ref: DocumentRef
    status: str  # "processed" | "empty" (no text at all: ``message`` says why) | "skipped" | "failed" | "deleted"
    stage: str | None = None  # where it failed: plan, fetch, partition, chunk, write, index, delete
    error_type: str | None = None
    message: str | None = None
    transient: bool = False
    pages: int = 0
    elements: int = 0
    chunks: int = 0
    seconds: float = 0.0
    output_path: str | None = None
    coverage: Coverage | None = None  # PDFs
    outputs: str | None = None  # the identities of the outputs written (the ledger's, to skip on a listing)
    records: list[dict] | None = field(default=None, repr=False)  # chunk records on their way to the index
    vectors_pending: bool = False  # Celery: too many chunks for one worker; embed tasks are to store them


TaskResult = DocumentResult | Split | Part | Embedded  # what a worker answers to a Task


@dataclass
class RunSummary:
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    deleted: int = 0
    pages: int = 0
    chunks: int = 0
    seconds: float = 0.0
    empty: int = 0
    layer_characters: int = 0  # in the text layers of the PDFs processed
    kept_characters: int = 0
    recovered_pages: int = 0
    failures: list[DocumentResult] = field(default_factory=list)
    empties: list[DocumentResult] = field(default_factory=list)
    too_large: list[DocumentResult] = field(default_factory=list)  # skipped by --max-file-size
    low_coverage: list[DocumentResult] = field(default_factory=list)  # processed PDFs under LOW_COVERAGE
    partly_read: list[DocumentResult] = field(default_factory=list)  # processed, with parts that could not be read
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
        elif result.status == "empty":
            self.empty += 1
            self.empties.append(result)
        else:
            self.processed += 1
            self.pages += result.pages
            self.chunks += result.chunks
            if result.message:
                self.partly_read.append(result)
            if result.coverage:
                self.layer_characters += result.coverage.layer
                self.kept_characters += result.coverage.kept
                self.recovered_pages += len(result.coverage.recovered_pages)
                if result.coverage.ratio < LOW_COVERAGE:
                    self.low_coverage.append(result)

    @property
    def documents(self) -> int:
        """Listed documents finished so far (deletions are not listed)."""
        return self.processed + self.skipped + self.failed + self.empty

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.error else 0

    def line(self) -> str:
        too_large = f" ({len(self.too_large)} over --max-file-size)" if self.too_large else ""
        empty = f", {self.empty} empty" if self.empty else ""
        coverage = ""
        if self.layer_characters:
            recovered = f", {self.recovered_pages} pages recovered" if self.recovered_pages else ""
            coverage = f", text coverage {self.kept_characters / self.layer_characters:.3f}{recovered}"
        return (
            f"{self.processed} processed, {self.skipped} skipped{too_large}, {self.failed} failed, "
            f"{self.deleted} deleted{empty}, {self.pages} pages, {self.chunks} chunks{coverage} in {self.seconds:.1f} s"
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
            "empty": [{"key": r.ref.key, "source_url": r.ref.source_url, "reason": r.message} for r in self.empties],
            "partly_read": [
                {"key": r.ref.key, "source_url": r.ref.source_url, "unread": r.message} for r in self.partly_read
            ],
            "coverage": {
                "text_layer_characters": self.layer_characters,
                "characters_kept": self.kept_characters,
                "ratio": round(self.kept_characters / self.layer_characters, 4) if self.layer_characters else None,
                "recovered_pages": self.recovered_pages,
                f"documents_under_{LOW_COVERAGE}": [
                    {"key": r.ref.key, "source_url": r.ref.source_url, **r.coverage.to_dict()}
                    for r in self.low_coverage
                ],
            },
        }
