"""The run ledger: per document, what was processed from which version, with what settings, and how it ended;
per run, when, with what arguments and counts.

The outputs stay the truth for skipping: the ledger remembers the identities (size and modification time, or ETag)
of a document's outputs once their stamp was read and found current, and a run that lists them unchanged skips the
document without reading them; anything else is read again. The ledger records history, drives retries and
deletions, and is rebuilt from the outputs' stamps when it is lost. It is written after the outputs it describes
(outputs first, state last), so a crash in between leaves a redo, never a skip of missing work.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingest.config import cache_dir
from ingest.models import DocumentResult, RunSummary

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    source_url TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    rel_path TEXT NOT NULL,
    version TEXT NOT NULL,
    size INTEGER NOT NULL,
    last_modified TEXT,
    config TEXT,
    status TEXT NOT NULL,          -- done | empty | failed
    stage TEXT,
    error_type TEXT,
    error TEXT,                    -- a failure's message, or why an empty document is empty
    attempts INTEGER NOT NULL DEFAULT 0,   -- failed attempts at this version and config
    pages INTEGER, elements INTEGER, chunks INTEGER, seconds REAL,
    run_id INTEGER,
    updated_at TEXT NOT NULL,
    done_at TEXT,
    coverage REAL,                 -- a PDF's share of its text layer in its elements
    recovered_pages TEXT,          -- pages made again from the text layer, comma-separated
    low_pages TEXT,                -- pages still under the threshold
    outputs TEXT                   -- the identities of its outputs as last seen in place (JSON), for skipping
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    source TEXT NOT NULL,
    arguments TEXT NOT NULL,
    processed INTEGER, skipped INTEGER, failed INTEGER, deleted INTEGER, pages INTEGER, chunks INTEGER,
    exit_code INTEGER,
    empty INTEGER
);
"""
# Columns added since the first ledgers: an older ledger gains them, empty, when it is opened.
_ADDED = {
    "documents": ("coverage REAL", "recovered_pages TEXT", "low_pages TEXT", "outputs TEXT"),
    "runs": ("empty INTEGER",),
}


def state_dir(output_dir: str) -> Path:
    """The ledger's and the lock's folder: inside a local output folder; for S3 outputs, one per URL on this machine
    (so the lock keeps out only runs on this machine)."""
    if not str(output_dir).startswith("s3://"):
        return Path(output_dir) / ".ingest"
    return cache_dir() / "state" / hashlib.sha256(str(output_dir).encode()).hexdigest()[:16]


def ledger_path(output_dir: str, state_path: Path | None = None) -> Path:
    return state_path or state_dir(output_dir) / "state.db"


def _coverage(result: DocumentResult) -> dict:
    coverage = result.coverage
    if coverage is None:
        return {}
    return {
        "coverage": round(coverage.ratio, 4),
        "recovered_pages": ",".join(map(str, coverage.recovered_pages)),
        "low_pages": ",".join(map(str, coverage.low_pages)),
    }


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class DocumentState:
    source_url: str
    key: str
    rel_path: str
    version: str
    size: int
    last_modified: str | None
    config: str | None
    status: str
    stage: str | None
    error_type: str | None
    error: str | None
    attempts: int
    pages: int | None
    elements: int | None
    chunks: int | None
    seconds: float | None
    run_id: int | None
    updated_at: str
    done_at: str | None
    coverage: float | None = None
    recovered_pages: str | None = None
    low_pages: str | None = None
    outputs: str | None = None


class Ledger:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        for table, columns in _ADDED.items():
            present = {row["name"] for row in self.db.execute(f"PRAGMA table_info({table})")}
            for column in columns:
                if column.split()[0] not in present:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")

    def close(self) -> None:
        self.db.close()

    # -- runs --------------------------------------------------------------------------------------------------
    def begin_run(self, source: str, arguments: dict) -> int:
        cursor = self.db.execute(
            "INSERT INTO runs (started_at, source, arguments) VALUES (?, ?, ?)",
            (now(), source, json.dumps(arguments, sort_keys=True, default=str)),
        )
        return cursor.lastrowid

    def end_run(self, run_id: int, summary: RunSummary) -> None:
        self.db.execute(
            "UPDATE runs SET ended_at=?, processed=?, skipped=?, failed=?, deleted=?, pages=?, chunks=?, exit_code=?, "
            "empty=? WHERE id=?",
            (
                now(),
                summary.processed,
                summary.skipped,
                summary.failed,
                summary.deleted,
                summary.pages,
                summary.chunks,
                summary.exit_code,
                summary.empty,
                run_id,
            ),
        )

    def runs(self, limit: int = 10) -> list[dict]:
        rows = self.db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [dict(row) | {"arguments": json.loads(row["arguments"])} for row in rows]

    # -- documents -----------------------------------------------------------------------------------------------
    def get(self, source_url: str) -> DocumentState | None:
        row = self.db.execute("SELECT * FROM documents WHERE source_url=?", (source_url,)).fetchone()
        return DocumentState(**dict(row)) if row else None

    def documents(self, status: str | None = None) -> list[DocumentState]:
        query, args = "SELECT * FROM documents", ()
        if status:
            query, args = query + " WHERE status=?", (status,)
        return [DocumentState(**dict(row)) for row in self.db.execute(query + " ORDER BY key", args)]

    def under(self, url_prefix: str) -> list[DocumentState]:
        """Documents whose source URL starts with ``url_prefix``: what a full listing of it must account for."""
        rows = self.db.execute(
            "SELECT * FROM documents WHERE substr(source_url, 1, ?) = ?", (len(url_prefix), url_prefix)
        )
        return [DocumentState(**dict(row)) for row in rows]

    def record(self, result: DocumentResult, config: str, run_id: int) -> None:
        """Store a processed, empty or failed document (called only after its outputs are durable). A skipped one
        is known already, or added by ``trust`` when its outputs were read."""
        ref = result.ref
        if result.status == "failed":
            previous = self.get(ref.source_url)
            same = previous is not None and (previous.version, previous.config) == (ref.version, config)
            self._store(
                result,
                config,
                run_id,
                status="failed",
                stage=result.stage,
                error_type=result.error_type,
                error=result.message,
                attempts=(previous.attempts if same else 0) + 1,
                seconds=result.seconds,
                done_at=previous.done_at if previous else None,
            )
        elif result.status == "processed":
            self._store(
                result,
                config,
                run_id,
                status="done",
                pages=result.pages,
                elements=result.elements,
                chunks=result.chunks,
                seconds=result.seconds,
                done_at=now(),
                error=result.message,  # the parts that could not be read
                **_coverage(result),
            )
        elif result.status == "empty":  # done, with no text: not tried again until the object changes
            self._store(
                result,
                config,
                run_id,
                status="empty",
                error=result.message,
                pages=result.pages,
                seconds=result.seconds,
                done_at=now(),
                **_coverage(result),
            )

    def _store(self, result: DocumentResult, config: str, run_id: int, **columns) -> None:
        ref = result.ref
        row = {
            "source_url": ref.source_url,
            "key": ref.key,
            "rel_path": ref.rel_path,
            "version": ref.version,
            "size": ref.size,
            "last_modified": ref.last_modified,
            "config": config,
            "attempts": 0,
            "run_id": run_id,
            "updated_at": now(),
            **columns,
        }
        self.db.execute(
            f"INSERT OR REPLACE INTO documents ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            tuple(row.values()),
        )

    def trust(self, result: DocumentResult, config: str, outputs: str) -> None:
        """Remember the identities of a done document's outputs, read and found complete: the next run skips it
        on a listing that shows them unchanged. A document the ledger does not know (a lost ledger) is added."""
        ref = result.ref
        updated = self.db.execute(
            "UPDATE documents SET outputs=? WHERE source_url=? AND version=? AND config=? AND status='done'",
            (outputs, ref.source_url, ref.version, config),
        ).rowcount
        if not updated and self.get(ref.source_url) is None:
            self._store(result, config, None, status="done", outputs=outputs)

    def forget(self, source_url: str) -> None:
        self.db.execute("DELETE FROM documents WHERE source_url=?", (source_url,))

    def counts(self) -> dict[str, int]:
        return {row[0]: row[1] for row in self.db.execute("SELECT status, count(*) FROM documents GROUP BY status")}
