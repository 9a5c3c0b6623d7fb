"""What a run must do with each listed document (skip it, do it, give up on it) and which documents are gone from
the bucket, decided from the listing, one listing of the outputs, the index and the ledger; ``--dry-run`` shows it
all. An output is read only when the ledger and the outputs' listing disagree."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath

from ingest.config import RunConfig
from ingest.errors import DocumentError
from ingest.models import DocumentRef, DocumentResult
from ingest.paths import OutputClaims, safe_relative_path
from ingest.pipeline import failed
from ingest.readers.base import Reader
from ingest.state import Ledger
from ingest.workset import WorkSet
from ingest.writers import make_index
from ingest.writers.base import IndexedDocument, Storage
from ingest.writers.elements import chunks_key, chunks_source, identities, output_key, read_stamp, staleness
from ingest.writers.storage import storage_for

GAVE_UP = "GaveUp"
TOO_LARGE = "TooLarge"


class Outputs:
    """The output folder or prefix as one listing, made into the run's work set at the first question: each file's
    identity by key. ``sweep``: a run's listing also removes the temp files of writers that died."""

    def __init__(self, store: Storage, workset: WorkSet, sweep: bool = False):
        self.store, self.workset, self.sweep = store, workset, sweep
        self._listed = False

    def identity(self, key: str) -> str | None:
        """The identity of the output file ``key`` as listed, or None when it is not there."""
        self._list()
        return self.workset.output(key)

    def under(self, folder: str) -> bool:
        """Whether the listing holds any file under ``folder``."""
        self._list()
        return self.workset.outputs_under(folder)

    def keys(self) -> Iterator[str]:
        self._list()
        return self.workset.output_keys()

    def _list(self) -> None:
        if not self._listed:
            self.workset.load_outputs(self.store.listing(self.sweep))
            self._listed = True


def _files(cfg: RunConfig, rel_path: PurePosixPath) -> list[str]:
    """A document's element JSON, and its chunk file where chunks are made."""
    return [output_key(rel_path), chunks_key(rel_path)] if cfg.chunks_enabled else [output_key(rel_path)]


def plan(
    ref: DocumentRef,
    cfg: RunConfig,
    indexed: dict[str, IndexedDocument],
    ledger: Ledger | None,
    claims: OutputClaims,
    outputs: Outputs,
    learn: bool = True,
) -> tuple[DocumentResult | None, str]:
    """What to do with a listed document: a final result (skipped, refused, given up) or None to process it, and
    the reason in a few words. With ``learn``, outputs read and found current are remembered in the ledger."""
    try:
        rel_path = safe_relative_path(ref.rel_path)
        claims.claim(ref.key, rel_path)
    except DocumentError as exc:  # an unsafe key fails alone
        return failed(ref, exc, "plan"), "unsafe key" if exc.error_type == "UnsafeKey" else "key collision"
    limit = cfg.limits.max_file_size_mb
    if limit and ref.size > limit * 2**20:
        message = f"{ref.size / 2**20:.3g} MB is over --max-file-size {limit:g} MB; not downloaded"
        return DocumentResult(ref, "skipped", "plan", TOO_LARGE, message), "too large"
    fingerprint = cfg.fingerprint()
    previous = ledger.get(ref.source_url) if ledger else None
    if (
        previous
        and previous.status == "empty"
        and not cfg.reprocess
        and (previous.version, previous.config) == (ref.version, fingerprint)
    ):
        return DocumentResult(ref, "skipped"), "empty, unchanged"
    files = _files(cfg, rel_path)
    found = [outputs.identity(key) for key in files]
    out, seen = files[0], identities(found)
    trusted = (
        previous is not None
        and previous.status == "done"
        and (previous.version, previous.size, previous.config, previous.outputs)
        == (ref.version, ref.size, fingerprint, seen)
    )
    if cfg.reprocess:
        reason = "reprocess"
    elif found[0] is None:
        reason = "new"
    elif seen is None:
        reason = staleness(outputs.store, out, ref, fingerprint) or "chunk file missing"
    elif not trusted:
        reason = staleness(outputs.store, out, ref, fingerprint)
        if reason is None and ledger is not None and learn:
            ledger.trust(DocumentResult(ref, "skipped"), fingerprint, seen)
    else:
        reason = None
    if reason is None and cfg.index.enabled:
        entry = indexed.get(ref.source_url)
        if entry is None:
            reason = "not in the index"
        elif not entry.matches(ref.version, fingerprint):
            reason = "only partly in the index" if entry.version == ref.version else "index holds another version"
    if reason is None:
        return DocumentResult(ref, "skipped", output_path=outputs.store.location(out)), "unchanged"
    if (
        not cfg.retry_failed
        and previous
        and previous.status == "failed"
        and (previous.version, previous.config) == (ref.version, fingerprint)
        and previous.attempts >= cfg.max_attempts
    ):
        message = (
            f"gave up after {previous.attempts} attempts ({previous.error_type}: {previous.error}); it is "
            "tried again when the object changes, or with --retry-failed"
        )
        return (
            DocumentResult(ref, "failed", previous.stage, GAVE_UP, message),
            f"failed {previous.attempts} times, not retried",
        )
    return None, reason


def gone(
    scope: str,
    workset: WorkSet,
    indexed: dict[str, IndexedDocument],
    ledger: Ledger | None,
    outputs: Outputs,
) -> Iterator[tuple[str, str]]:
    """``(source_url, rel_path)`` of documents under ``scope`` that have outputs, vectors or a ledger entry but
    are not in the listing (``workset``'s). Outputs are found in the outputs' listing, so a lost ledger loses
    nothing; only a file of no listed document is read (for the source URL in it)."""
    seen: set[str] = set()  # the documents found gone: few

    def candidate(source: str) -> Iterator[tuple[str, str]]:
        if source.startswith(scope) and source not in seen and not workset.is_listed(source):
            seen.add(source)
            yield source, source[len(scope) :]

    store = outputs.store
    for key in outputs.keys():
        name = key.rpartition("/")[2]
        for suffix, read_source in ((".chunks.jsonl", chunks_source), (".json", _stamped_source)):
            if name.endswith(suffix) and not name.startswith("."):
                if not workset.is_listed(scope + key.removesuffix(suffix)):  # a listed document's file is not read
                    source = read_source(store, key)
                    if source:
                        yield from candidate(source)
                break
    for source in sorted(indexed):
        yield from candidate(source)
    for source in workset.unlisted(ledger.sources_under(scope)) if ledger else ():
        yield from candidate(source)


def _stamped_source(store, key: str) -> str | None:
    try:
        return (read_stamp(store, key) or {}).get("url")
    except ValueError:
        return None


def preview(cfg: RunConfig, reader: Reader, ledger: Ledger | None) -> Iterator[tuple[str, str, str]]:
    """``--dry-run``: ``(action, key, reason)`` for every listed document and every deletion, doing nothing."""
    indexed = make_index(cfg.index).check() if cfg.index.enabled else {}
    workset = WorkSet()
    try:
        claims, outputs = OutputClaims(workset), Outputs(storage_for(cfg), workset)
        for ref in reader.list():
            workset.add_listed(ref.source_url)
            result, reason = plan(ref, cfg, indexed, ledger, claims, outputs, learn=False)
            action = "process" if result is None else "skip" if result.status == "skipped" else "fail"
            yield action, ref.key, reason
        scope = reader.scope() if cfg.sync_deletes else None
        if scope is not None:
            for source, _ in gone(scope, workset, indexed, ledger, outputs):
                yield "delete", source, "gone from the listing"
    finally:
        workset.close()
