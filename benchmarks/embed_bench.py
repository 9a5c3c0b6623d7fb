"""Embedding: chunks/s and quality per backend against raw `SentenceTransformer.encode`, and through the pipeline.

    python benchmarks/embed_bench.py                 # chunks of ../shared/corpus/pdf (or examples/documents)
    python benchmarks/embed_bench.py --corpus examples/documents --limit 3 --timed 40 --repeat 1   # a smoke run

The chunk texts come from a real `ingest --no-vectors` run (at most --per-document chunks of each document).
Speed: "raw" is `SentenceTransformer.encode` (torch fp32) on --timed chunks in this process; each backend is our
embedder on the same chunks; "pipeline" submits every chunk document by document to the index writer (its own
process: batches across documents, then upserts into a Chroma store). Models are loaded before timing; runs
alternate, so noise hits all; the table shows min-max over --repeat runs. bf16 is left out on a CPU without bf16
in hardware (emulated there, several times slower than fp32).

Quality, over all chunks, against torch fp32: the cosine between a chunk's two vectors; how many of each chunk's
10 nearest chunks stay the same; recall@5 of benchmarks/data/queries.json (questions written for passages of
../shared/corpus/pdf: a question counts as answered when one of its 5 nearest chunks holds the answer's words).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.config import DEFAULT_EMBEDDING_MODEL, IndexConfig, RunConfig, SourceConfig  # noqa: E402
from ingest.embedding import BACKENDS, make_embedder, model_location, native_bf16, use_threads  # noqa: E402
from ingest.models import DocumentRef  # noqa: E402
from ingest.pools.index_writer import IndexWriter  # noqa: E402
from ingest.writers.elements import output_key, pending_key  # noqa: E402

QUERIES = ROOT / "benchmarks" / "data" / "queries.json"


def make_chunks(corpus: Path, limit: int, per_document: int, tmp: Path) -> list[list[dict]]:
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
    files = sorted((tmp / "out").rglob("*.jsonl"))
    return [[json.loads(line) for line in p.read_text().splitlines()[:per_document]] for p in files]


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


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).lower())


def neighbours(vectors: np.ndarray, k: int) -> np.ndarray:
    similar = vectors @ vectors.T
    np.fill_diagonal(similar, -np.inf)
    return np.argsort(-similar, axis=1)[:, :k]


def recall_at_5(embedder, queries: list[dict], texts: list[str], vectors: np.ndarray) -> float | None:
    plain = [_plain(text) for text in texts]
    asked = [q for q in queries if any(q["answer"] in text for text in plain)]
    if not asked:
        return None
    found = np.array(embedder.encode([q["query"] for q in asked])) @ vectors.T
    top = np.argsort(-found, axis=1)[:, :5]
    return sum(any(q["answer"] in plain[i] for i in row) for q, row in zip(asked, top, strict=True)) / len(asked)


def quality(embedders: dict, texts: list[str]) -> list[str]:
    queries = json.loads(QUERIES.read_text())
    vectors = {name: np.array(embedder.encode(texts)) for name, embedder in embedders.items()}
    fp32 = vectors["torch"]
    near = neighbours(fp32, 10)
    base = recall_at_5(embedders["torch"], queries, texts, fp32)
    rows = []
    for name, found in vectors.items():
        cosine = (found * fp32).sum(axis=1)
        same = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(neighbours(found, 10), near, strict=True)])
        recall = recall_at_5(embedders[name], queries, texts, found)
        shown = "n/a | n/a" if recall is None else f"{recall:.3f} | {recall / base:.3f}" if base else "0 | n/a"
        rows.append(f"| {name} | {cosine.mean():.4f} ({cosine.min():.4f}) | {same:.3f} | {shown} |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = ROOT.parent / "shared" / "corpus" / "pdf"
    parser.add_argument("--corpus", type=Path, default=default if default.is_dir() else ROOT / "examples" / "documents")
    parser.add_argument("--limit", type=int, default=0, help="only the N smallest files")
    parser.add_argument("--per-document", type=int, default=500, help="chunks of one document at most")
    parser.add_argument("--timed", type=int, default=600, help="chunks in each timed run")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    use_threads(os.cpu_count() or 1)
    backends = [name for name in BACKENDS[1:] if name != "bf16" or native_bf16()]
    with tempfile.TemporaryDirectory() as tmp:
        documents = make_chunks(args.corpus.resolve(), args.limit, args.per_document, Path(tmp))
        if not documents:
            sys.exit(f"no chunks came out of {args.corpus}")
        texts = [r["text"] for records in documents for r in records]
        timed = texts[:: max(1, len(texts) // args.timed)][: args.timed]
        some = next(
            (documents[: i + 1] for i in range(len(documents)) if sum(map(len, documents[: i + 1])) >= len(timed)),
            documents,
        )
        from sentence_transformers import SentenceTransformer

        raw_model = SentenceTransformer(model_location(DEFAULT_EMBEDDING_MODEL), device="cpu")
        embedders = {name: make_embedder(DEFAULT_EMBEDDING_MODEL, "cpu", name) for name in backends}
        seconds: dict[str, list[float]] = {"raw": [], **{name: [] for name in BACKENDS[1:]}, "pipeline": []}
        for _ in range(args.repeat):
            started = time.monotonic()
            raw_model.encode(timed, batch_size=64)
            seconds["raw"].append(time.monotonic() - started)
            for name, embedder in embedders.items():
                started = time.monotonic()
                embedder.encode(timed)
                seconds[name].append(time.monotonic() - started)
            seconds["pipeline"].append(through_writer(some, Path(tmp)))
        rows = quality(embedders, texts)
    print(
        f"{len(documents)} documents, {len(texts)} chunks ({sum(map(len, texts)) / len(texts):.0f} chars on "
        f"average), {len(timed)} of them timed; {DEFAULT_EMBEDDING_MODEL} on CPU, {os.cpu_count()} CPUs, "
        f"{args.repeat} runs each\n"
    )
    print("| path | seconds (min-max) | chunks/s (best) | x raw |")
    print("|---|---|---|---|")
    names = {"raw": "raw SentenceTransformer.encode (torch fp32)", "pipeline": "pipeline (index writer + Chroma)"}
    raw = len(timed) / min(seconds["raw"])
    for name, runs in seconds.items():
        if not runs:
            print(f"| ingest --embedding-backend {name} | not run: this CPU has no bf16 in hardware | | |")
            continue
        label = names.get(name, f"ingest --embedding-backend {name}")
        rate = (sum(map(len, some)) if name == "pipeline" else len(timed)) / min(runs)
        print(f"| {label} | {min(runs):.2f}-{max(runs):.2f} | {rate:.0f} | {rate / raw:.2f} |")
    print(f"\n(pipeline: the {sum(map(len, some))} chunks of the first {len(some)} documents)\n")
    print("| backend | cosine to fp32, mean (min) | top-10 neighbours the same | recall@5 | of fp32's |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
