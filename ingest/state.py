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
import os
import socket
import sqlite3
from collections.abc import Iterator
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
    empty INTEGER,
    status TEXT,                   -- queued | running | done | failed (the run itself: a config error, a crash)
    total INTEGER,                 -- documents listed so far (the listing streams)
    done INTEGER,                  -- of those, finished
    summary TEXT,                  -- as --summary-json writes it, once the run has ended
    error TEXT,                    -- why the run itself failed
    pid INTEGER, host TEXT         -- the process running it, to tell a live run from a killed one
);
"""
# Columns added since the first ledgers: an older ledger gains them, empty, when it is opened.
_ADDED = {
    "documents": ("coverage REAL", "recovered_pages TEXT", "low_pages TEXT", "outputs TEXT"),
    "runs": (
        "empty INTEGER",
        "status TEXT",
        "total INTEGER",
        "done INTEGER",
        "summary TEXT",
        "error TEXT",
        "pid INTEGER",
        "host TEXT",
    ),
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


RUN_COUNTS = ("processed", "skipped", "failed", "empty", "deleted", "pages", "chunks")


def _run(row: sqlite3.Row, summary: bool = True) -> dict:
    """A run as ``ingest status`` and ``ingest serve`` show it (its summary, which may be long, only with
    ``summary``); a run whose process is gone without ending it shows as failed."""
    run = dict(row) | {"arguments": json.loads(row["arguments"])}
    run["summary"] = json.loads(run["summary"]) if summary and run["summary"] else None
    if run["status"] is None:  # recorded before runs had a status
        run["status"] = "done" if run["ended_at"] else "failed"
    if run["status"] == "running" and not _alive(run["pid"], run["host"]):
        run["status"], run["error"] = "failed", "the run's process ended before the run did (killed?)"
    return run


def _alive(pid: int | None, host: str | None) -> bool:
    """Whether a run's process is still there; a run on another machine is taken to be."""
    if pid is None or host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # there, but another user's
        pass
    return True


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
    def submit(self, source: str, arguments: dict) -> int:
        """A run asked for (by ``ingest serve``) that starts when the runs before it are done."""
        cursor = self.db.execute(
            "INSERT INTO runs (started_at, source, arguments, status) VALUES (?, ?, ?, 'queued')",
            (now(), source, json.dumps(arguments, sort_keys=True, default=str)),
        )
        return cursor.lastrowid

    def begin_run(self, source: str, arguments: dict, run_id: int | None = None) -> int:
        """Start a run: a new one, or the queued ``run_id``."""
        row = (now(), source, json.dumps(arguments, sort_keys=True, default=str), os.getpid(), socket.gethostname())
        if run_id is not None:
            self.db.execute(
                "UPDATE runs SET started_at=?, source=?, arguments=?, pid=?, host=?, status='running' WHERE id=?",
                (*row, run_id),
            )
            return run_id
        cursor = self.db.execute(
            "INSERT INTO runs (started_at, source, arguments, pid, host, status) VALUES (?, ?, ?, ?, ?, 'running')",
            row,
        )
        return cursor.lastrowid

    def progress(self, run_id: int, summary: RunSummary, total: int | None = None) -> None:
        """A run's counts so far and how many documents are listed (``total``), for whoever watches."""
        self.db.execute(
            f"UPDATE runs SET {', '.join(f'{name}=?' for name in RUN_COUNTS)}, done=?, total=coalesce(?, total) "
            "WHERE id=?",
            (*(getattr(summary, name) for name in RUN_COUNTS), summary.documents, total, run_id),
        )

    def end_run(self, run_id: int, summary: RunSummary) -> None:
        self.progress(run_id, summary)
        self.db.execute(
            "UPDATE runs SET ended_at=?, exit_code=?, summary=?, status='done' WHERE id=?",
            (now(), summary.exit_code, json.dumps(summary.to_dict()), run_id),
        )

    def fail_run(self, run_id: int, error: str) -> None:
        """The run itself failed (its settings, its process): no summary."""
        self.db.execute(
            "UPDATE runs SET ended_at=?, error=?, status='failed' WHERE id=? AND status IN ('queued', 'running')",
            (now(), error, run_id),
        )

    def runs(self, limit: int = 10, offset: int = 0) -> list[dict]:
        rows = self.db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset))
        return [_run(row, summary=False) for row in rows.fetchall()]

    def run(self, run_id: int) -> dict | None:
        row = self.db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        return _run(row) if row else None

    def run_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM runs").fetchone()[0]

    def next_queued(self) -> int | None:
        row = self.db.execute("SELECT id FROM runs WHERE status='queued' ORDER BY id LIMIT 1").fetchone()
        return row[0] if row else None

    # -- documents -----------------------------------------------------------------------------------------------
    def get(self, source_url: str) -> DocumentState | None:
        row = self.db.execute("SELECT * FROM documents WHERE source_url=?", (source_url,)).fetchone()
        return DocumentState(**dict(row)) if row else None

    def documents(self, status: str | None = None) -> list[DocumentState]:
        query, args = "SELECT * FROM documents", ()
        if status:
            query, args = query + " WHERE status=?", (status,)
        return [DocumentState(**dict(row)) for row in self.db.execute(query + " ORDER BY key", args)]

    def page(self, status: str | None, key_prefix: str, limit: int, offset: int) -> tuple[int, list[DocumentState]]:
        """One page of the documents (by key) with ``status`` and keys starting with ``key_prefix``, and how many
        there are in all; failed ones first when no status is asked for."""
        where = "substr(key, 1, ?) = ?" + (" AND status=?" if status else "")
        args = (len(key_prefix), key_prefix, *((status,) if status else ()))
        total = self.db.execute(f"SELECT count(*) FROM documents WHERE {where}", args).fetchone()[0]
        rows = self.db.execute(
            f"SELECT * FROM documents WHERE {where} ORDER BY status != 'failed', key LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return total, [DocumentState(**dict(row)) for row in rows]

    def of_run(self, run_id: int, limit: int) -> tuple[int, list[DocumentState]]:
        """The first ``limit`` documents a run processed, found empty or failed (and that no later run did again),
        failed first, and how many there are in all."""
        total = self.db.execute("SELECT count(*) FROM documents WHERE run_id=?", (run_id,)).fetchone()[0]
        rows = self.db.execute(
            "SELECT * FROM documents WHERE run_id=? ORDER BY status != 'failed', key LIMIT ?", (run_id, limit)
        )
        return total, [DocumentState(**dict(row)) for row in rows]

    def sources_under(self, url_prefix: str) -> Iterator[str]:
        """The source URLs that start with ``url_prefix`` (what a full listing of it must account for), streamed."""
        rows = self.db.execute(
            "SELECT source_url FROM documents WHERE substr(source_url, 1, ?) = ?", (len(url_prefix), url_prefix)
        )
        for (source,) in rows:
            yield source

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
