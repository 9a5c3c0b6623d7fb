"""A run's working sets that grow with the bucket (the documents listed, the outputs' listing, the output names
claimed) in a private SQLite database on disk that disappears when the run closes it: the driver's memory stays
flat from a hundred keys to millions, and each question is an indexed lookup."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from itertools import islice

_SCHEMA = """
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE listed (source TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE outputs (key TEXT PRIMARY KEY, identity TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE claimed_files (name TEXT PRIMARY KEY, owner TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE claimed_folders (name TEXT PRIMARY KEY, owner TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE candidates (source TEXT PRIMARY KEY) WITHOUT ROWID;
"""
_BATCH = 1000


class WorkSet:
    def __init__(self):
        self.db = sqlite3.connect("")  # "": a temporary database on disk, private to this connection
        self.db.executescript(_SCHEMA)
        self.listed_count = 0

    def close(self) -> None:
        self.db.close()

    # -- the documents listed ----------------------------------------------------------------------------------------
    def add_listed(self, source: str) -> None:
        self.listed_count += self.db.execute("INSERT OR IGNORE INTO listed VALUES (?)", (source,)).rowcount

    def is_listed(self, source: str) -> bool:
        return self.db.execute("SELECT 1 FROM listed WHERE source=?", (source,)).fetchone() is not None

    # -- the outputs' listing --------------------------------------------------------------------------------------
    def load_outputs(self, listing: Iterable[tuple[str, str]]) -> None:
        rows = iter(listing)
        while batch := list(islice(rows, _BATCH)):
            self.db.executemany("INSERT OR REPLACE INTO outputs VALUES (?, ?)", batch)

    def output(self, key: str) -> str | None:
        """The identity of the output file ``key``, or None when it is not there."""
        row = self.db.execute("SELECT identity FROM outputs WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def outputs_under(self, folder: str) -> bool:
        """Whether any output file's key lies under ``folder``."""
        query = "SELECT 1 FROM outputs WHERE key > ? AND key < ? LIMIT 1"  # "0" follows "/"
        return self.db.execute(query, (f"{folder}/", f"{folder}0")).fetchone() is not None

    def output_keys(self) -> Iterator[str]:
        """Every output file's key, in order, streamed."""
        for (key,) in self.db.execute("SELECT key FROM outputs ORDER BY key"):
            yield key

    # -- the output names claimed (see paths.OutputClaims) ---------------------------------------------------------
    def claimed(self, table: str, name: str) -> str | None:
        row = self.db.execute(f"SELECT owner FROM claimed_{table} WHERE name=?", (name,)).fetchone()
        return row[0] if row else None

    def claim(self, files: list[str], folders: list[str], owner: str) -> None:
        self.db.executemany("INSERT OR REPLACE INTO claimed_files VALUES (?, ?)", ((n, owner) for n in files))
        self.db.executemany("INSERT OR IGNORE INTO claimed_folders VALUES (?, ?)", ((n, owner) for n in folders))

    # -- sources to look at for deletion ----------------------------------------------------------------------------
    def unlisted(self, sources: Iterable[str]) -> Iterator[str]:
        """Those of ``sources`` (streamed from another store) not listed, each once, in order: collected first, so
        that the caller may change that store while it goes through them."""
        self.db.execute("DELETE FROM candidates")
        rows = ((source,) for source in sources)
        while batch := list(islice(rows, _BATCH)):
            self.db.executemany("INSERT OR IGNORE INTO candidates VALUES (?)", batch)
        query = "SELECT source FROM candidates WHERE source NOT IN (SELECT source FROM listed) ORDER BY source"
        for (source,) in self.db.execute(query):
            yield source
