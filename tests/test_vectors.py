"""Nothing embedded twice: a changed document re-embeds only its changed chunks (real model, real Chroma)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import chromadb

from ingest.config import IndexConfig, RunConfig, SourceConfig
from ingest.models import DocumentRef, Task
from ingest.pipeline import run_task
from ingest.writers.vectors import load, store_vectors


def sections(edited: int = -1, count: int = 30) -> str:
    return "\n\n".join(
        f"SECTION {n} OF THE HARBOUR MANUAL\n\n"
        + f"Berth {n} takes {'timber' if n == edited else 'grain'} ships of up to {n * 1000} tonnes; "
        + "the cranes there lift at most twelve tonnes at a time and work in two shifts. " * 3
        for n in range(count)
    )


def store(path: Path, cfg: RunConfig) -> tuple[int, int]:
    """Run one document through the pipeline and store its vectors: (chunks, texts embedded)."""
    stat = path.stat()
    ref = DocumentRef(
        str(path),
        path.name,
        path.name,
        f"{stat.st_size}-{stat.st_mtime_ns}",
        stat.st_size,
        datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(),
    )
    result = run_task(Task(ref), cfg)
    embedder = load(cfg.index)[0]
    before = embedder.encoded
    assert store_vectors(cfg, [(ref, result.records)]) == [None]
    return len(result.records), embedder.encoded - before


def test_a_changed_document_re_embeds_only_its_changed_chunks(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    manual = docs / "manual.txt"
    manual.write_text(sections())
    cfg = RunConfig(
        SourceConfig("local", local_root=str(docs)),
        output_dir=str(tmp_path / "out"),
        download_dir=tmp_path / "downloads",
        index=IndexConfig(chroma_path=str(tmp_path / "chroma"), collection=f"reuse-{os.getpid()}"),
    )

    chunks, embedded = store(manual, cfg)
    assert chunks >= 30 and embedded == chunks  # the first time, every chunk

    manual.write_text(sections(edited=17))
    chunks, embedded = store(manual, cfg)
    assert embedded == 1  # the one section that changed

    manual.write_text(sections(edited=17, count=31))
    chunks, embedded = store(manual, cfg)
    assert embedded == 1  # the one appended

    collection = chromadb.PersistentClient(path=str(tmp_path / "chroma")).get_collection(cfg.index.collection)
    stored = collection.get(include=["documents", "embeddings"])
    assert len(stored["ids"]) == chunks
    fresh = load(cfg.index)[0].encode(stored["documents"])
    for kept, again in zip(stored["embeddings"], fresh, strict=True):  # the kept vectors are the texts' own
        assert sum(a * b for a, b in zip(kept, again, strict=True)) > 0.999
