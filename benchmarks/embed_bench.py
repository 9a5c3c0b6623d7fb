"""Embedding throughput: chunks/s through the pipeline's index writer against raw `SentenceTransformer.encode`.

    python benchmarks/embed_bench.py                 # chunks of ../shared/corpus/mixed (or examples/documents)
    python benchmarks/embed_bench.py --limit 2       # a smoke run

The chunk texts come from a real `ingest --no-vectors` run. "raw" encodes all of them in one call in this
process, model already loaded; "pipeline" submits them document by document to the index writer (its own
process: batches across documents, then upserts into a Chroma store) and waits for the last document, model
already loaded too. Runs alternate, so noise hits both; the table shows min-max over --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.config import DEFAULT_EMBEDDING_MODEL, IndexConfig, RunConfig, SourceConfig  # noqa: E402
from ingest.embedding import Embedder  # noqa: E402
from ingest.models import DocumentRef  # noqa: E402
from ingest.pools.index_writer import IndexWriter  # noqa: E402
from ingest.writers.elements import output_key, pending_key  # noqa: E402


def make_chunks(corpus: Path, limit: int, tmp: Path) -> list[list[dict]]:
    files = sorted((p for p in corpus.iterdir() if p.is_file()), key=lambda p: p.stat().st_size)
    files = files[:limit] if limit else files
    docs = tmp / "docs"
    docs.mkdir()
    for path in files:
        os.symlink(path, docs / path.name)
    subprocess.run(
        [
            str(Path(sys.executable).parent / "ingest"),
            "--local-path",
            str(docs),
            "--no-vectors",
            "--strategy",
            "fast",
            "--structured-output-dir",
            str(tmp / "out"),
        ],
        check=False,
        capture_output=True,
    )
    return [[json.loads(line) for line in p.read_text().splitlines()] for p in sorted((tmp / "out").rglob("*.jsonl"))]


def through_writer(documents: list[list[dict]], tmp: Path) -> float:
    """Seconds from the first document handed to the writer to the last one stored and committed, model already
    loaded."""
    index = IndexConfig(chroma_path=str(tmp / "chroma"), collection=f"bench{time.monotonic_ns()}")
    cfg = RunConfig(SourceConfig("local", local_root=str(tmp / "docs")), output_dir=str(tmp / "out"), index=index)
    refs = []
    for records in documents:  # each document's element JSON waits, pending, for its vectors as in a run
        key = records[0]["metadata"]["key"]
        refs.append(DocumentRef(records[0]["metadata"]["source"], key, key, records[0]["metadata"]["version"], 0, ""))
        (tmp / "out" / pending_key(output_key(key))).write_bytes((tmp / "out" / output_key(key)).read_bytes())
    writer = IndexWriter(cfg)
    writer.start()
    replies: list[tuple[str, str | None]] = []
    loaded, done = threading.Event(), threading.Event()

    def deliver(kind, source, error):
        if kind == "load":
            loaded.set()
            return
        replies.append((kind, error))
        if kind is None or len(replies) == len(documents):
            done.set()

    writer.forward_replies(deliver)
    writer.load()
    loaded.wait()
    started = time.monotonic()
    for ref, records in zip(refs, documents, strict=False):
        writer.submit(ref, records)
    done.wait()
    seconds = time.monotonic() - started
    writer.close()
    errors = [error for _, error in replies if error]
    if errors:
        raise RuntimeError(f"the writer failed: {errors[:3]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = ROOT.parent / "shared" / "corpus" / "mixed"
    parser.add_argument("--corpus", type=Path, default=default if default.is_dir() else ROOT / "examples" / "documents")
    parser.add_argument("--limit", type=int, default=0, help="only the N smallest files")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        documents = make_chunks(args.corpus, args.limit, Path(tmp))
        texts = [r["text"] for records in documents for r in records]
        embedder = Embedder(DEFAULT_EMBEDDING_MODEL, "cpu")
        embedder.encode(texts[:8])  # warm
        raw, pipeline = [], []
        for _ in range(args.repeat):
            started = time.monotonic()
            embedder.encode(texts)
            raw.append(time.monotonic() - started)
            pipeline.append(through_writer(documents, Path(tmp)))
    chunks = len(texts)
    print(
        f"{len(documents)} documents, {chunks} chunks ({sum(map(len, texts)) / chunks:.0f} chars on average), "
        f"{DEFAULT_EMBEDDING_MODEL} on CPU, {os.cpu_count()} CPUs, {args.repeat} runs each\n"
    )
    print("| path | seconds (min-max) | chunks/s (best) |")
    print("|---|---|---|")
    paths = (("raw SentenceTransformer.encode", raw), ("pipeline (index writer + Chroma)", pipeline))
    for name, seconds in paths:
        print(f"| {name} | {min(seconds):.2f}-{max(seconds):.2f} | {chunks / min(seconds):.0f} |")
    print(f"\npipeline / raw (best runs): {min(raw) / min(pipeline):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
