"""What a run must do with each listed document (skip it, do it, give up on it) and which documents are gone from
the bucket, decided from the listing, the outputs, the index and the ledger; ``--dry-run`` shows it all."""

from __future__ import annotations

from collections.abc import Iterator

from ingest.config import RunConfig
from ingest.errors import DocumentError
from ingest.models import DocumentRef, DocumentResult
from ingest.paths import OutputClaims, safe_relative_path
from ingest.pipeline import failed
from ingest.readers.base import Reader
from ingest.state import Ledger
from ingest.writers import make_index
from ingest.writers.base import IndexedDocument
from ingest.writers.elements import chunks_key, chunks_source, output_key, read_stamp, staleness
from ingest.writers.storage import storage_for

GAVE_UP = "GaveUp"
TOO_LARGE = "TooLarge"


def plan(
    ref: DocumentRef, cfg: RunConfig, indexed: dict[str, IndexedDocument], ledger: Ledger | None, claims: OutputClaims
) -> tuple[DocumentResult | None, str]:
    """What to do with a listed document: a final result (skipped, refused, given up) or None to process it, and
    the reason in a few words."""
    try:
        out = output_key(ref.rel_path)
        claims.claim(ref.key, safe_relative_path(ref.rel_path))
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
    store = storage_for(cfg)
    reason = "reprocess" if cfg.reprocess else staleness(store, out, ref, fingerprint)
    if reason is None and cfg.chunks_enabled and not store.exists(chunks_key(ref.rel_path)):
        reason = "chunk file missing"
    if reason is None and cfg.index.enabled:
        entry = indexed.get(ref.source_url)
        if entry is None:
            reason = "not in the index"
        elif not entry.matches(ref.version, fingerprint):
            reason = "only partly in the index" if entry.version == ref.version else "index holds another version"
    if reason is None:
        return DocumentResult(ref, "skipped", output_path=store.location(out)), "unchanged"
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
    cfg: RunConfig, scope: str, listed: set[str], indexed: dict[str, IndexedDocument], ledger: Ledger | None
) -> Iterator[tuple[str, str]]:
    """``(source_url, rel_path)`` of documents under ``scope`` that have outputs, vectors or a ledger entry but
    are no longer in the listing. Outputs are found by walking the output folder, so a lost ledger loses nothing."""
    seen: set[str] = set()

    def candidate(source: str) -> Iterator[tuple[str, str]]:
        if source.startswith(scope) and source not in listed and source not in seen:
            seen.add(source)
            yield source, source[len(scope) :]

    store = storage_for(cfg)
    for key in store.walk():
        name = key.rpartition("/")[2]
        for suffix, read_source in ((".chunks.jsonl", chunks_source), (".json", _stamped_source)):
            if name.endswith(suffix) and not name.startswith("."):
                if scope + key.removesuffix(suffix) not in listed:  # a listed document's file is never read
                    source = read_source(store, key)
                    if source:
                        yield from candidate(source)
                break
    for source in sorted(indexed):
        yield from candidate(source)
    for state in ledger.under(scope) if ledger else ():
        yield from candidate(state.source_url)


def _stamped_source(store, key: str) -> str | None:
    try:
        return (read_stamp(store, key) or {}).get("url")
    except ValueError:
        return None


def preview(cfg: RunConfig, reader: Reader, ledger: Ledger | None) -> Iterator[tuple[str, str, str]]:
    """``--dry-run``: ``(action, key, reason)`` for every listed document and every deletion, doing nothing."""
    indexed = make_index(cfg.index).check() if cfg.index.enabled else {}
    listed: set[str] = set()
    claims = OutputClaims()
    for ref in reader.list():
        listed.add(ref.source_url)
        result, reason = plan(ref, cfg, indexed, ledger, claims)
        action = "process" if result is None else "skip" if result.status == "skipped" else "fail"
        yield action, ref.key, reason
    scope = reader.scope() if cfg.sync_deletes else None
    if scope is not None:
        for source, _ in gone(cfg, scope, listed, indexed, ledger):
            yield "delete", source, "gone from the listing"
