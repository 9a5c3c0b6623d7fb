"""Chunks, embeddings and Chroma with the real model and real Chroma (embedded and server): the collection holds
exactly the current chunks of the bucket, run after run."""

from __future__ import annotations

import json
from pathlib import Path

import chromadb
import pytest
from click.testing import CliRunner

from conftest import EXAMPLES, free_port, main_command, summary
from ingest.embedding import resolve_backend, vectors_of

DOCS = [
    "reports/fake-memo.pdf",
    "fake.docx",
    "fake-html.html",
    "mail/fake-email.eml",
    "reports/layout-parser-paper-fast.pdf",
]
LONG_TEXT = "\n\n".join(
    f"Paragraph {i} tells of harbour number {i} where ships unload grain and timber. " * 4 for i in range(12)
)


def upload(s3, bucket, names=DOCS, prefix="docs/"):
    for name in names:
        s3.upload_file(str(EXAMPLES / name), bucket, prefix + name)


def collection(path: Path):
    return chromadb.PersistentClient(path=str(path)).get_collection("ingest")


def chunk_lines(out: Path) -> list[dict]:
    return [json.loads(line) for p in sorted(out.rglob("*.chunks.jsonl")) for line in p.read_text().splitlines()]


def by_source(coll) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for metadata in coll.get(include=["metadatas"])["metadatas"]:
        found.setdefault(metadata["source"], []).append(metadata)
    return found


def test_run_indexes_every_chunk_with_scalar_metadata_and_rerun_adds_nothing(s3, bucket, ingest, tmp_path):
    upload(s3, bucket)

    first = ingest("--s3-url", f"s3://{bucket}/docs/", vectors=True)

    assert first.exit_code == 0, first.output
    records = chunk_lines(tmp_path / "out")
    coll = collection(tmp_path / "chroma")
    assert coll.count() == len(records) > len(DOCS)
    assert f"{len(records)} chunks" in summary(first)
    stored = coll.get(include=["metadatas", "documents", "embeddings"])
    assert sorted(stored["ids"]) == sorted(r["id"] for r in records)
    assert len(stored["embeddings"][0]) == 384
    for metadata in stored["metadatas"]:
        assert all(isinstance(v, (str, int, float, bool)) for v in metadata.values())
        assert metadata["source"].startswith(f"s3://{bucket}/docs/")
        assert {"key", "filename", "version", "chunk_index", "chunk_count", "element_types"} <= metadata.keys()
    memo = by_source(coll)[f"s3://{bucket}/docs/reports/fake-memo.pdf"]
    assert {m["page_number"] for m in memo} == {1}
    assert memo[0]["version"] == s3.head_object(Bucket=bucket, Key="docs/reports/fake-memo.pdf")["ETag"].strip('"')

    second = ingest("--s3-url", f"s3://{bucket}/docs/", vectors=True)
    assert summary(second).startswith(f"ingest: 0 processed, {len(DOCS)} skipped, 0 failed")
    assert collection(tmp_path / "chroma").get()["ids"] == coll.get()["ids"]

    third = ingest("--s3-url", f"s3://{bucket}/docs/", "--reprocess", vectors=True)
    assert summary(third).startswith(f"ingest: {len(DOCS)} processed")
    assert collection(tmp_path / "chroma").count() == len(records)


def test_changed_document_replaces_its_chunks_also_when_it_shrinks(s3, bucket, ingest, tmp_path):
    s3.put_object(Bucket=bucket, Key="long.txt", Body=LONG_TEXT.encode())
    upload(s3, bucket, ["fake.docx"], prefix="")
    assert ingest("--s3-url", f"s3://{bucket}/", vectors=True).exit_code == 0
    before = by_source(collection(tmp_path / "chroma"))
    assert len(before[f"s3://{bucket}/long.txt"]) >= 3

    s3.put_object(Bucket=bucket, Key="long.txt", Body=b"Now the note is one short sentence about a lighthouse.")
    result = ingest("--s3-url", f"s3://{bucket}/", vectors=True)

    assert summary(result).startswith("ingest: 1 processed, 1 skipped, 0 failed")
    coll = collection(tmp_path / "chroma")
    after = by_source(coll)
    new_etag = s3.head_object(Bucket=bucket, Key="long.txt")["ETag"].strip('"')
    assert [m["version"] for m in after[f"s3://{bucket}/long.txt"]] == [new_etag]
    assert after[f"s3://{bucket}/fake.docx"] == before[f"s3://{bucket}/fake.docx"]
    assert coll.count() == 1 + len(before[f"s3://{bucket}/fake.docx"])
    [text] = coll.get(where={"source": f"s3://{bucket}/long.txt"})["documents"]
    assert "lighthouse" in text and "harbour" not in text


def test_half_indexed_document_is_repaired_by_the_next_run(s3, bucket, ingest, tmp_path):
    """What a run killed mid-upsert leaves behind (some chunks of a document, or vectors with no committed
    JSON) is found by the next run and redone, without duplicates."""
    s3.put_object(Bucket=bucket, Key="long.txt", Body=LONG_TEXT.encode())
    upload(s3, bucket, ["fake.docx"], prefix="")
    assert ingest("--s3-url", f"s3://{bucket}/", vectors=True).exit_code == 0
    coll = collection(tmp_path / "chroma")
    full = coll.count()
    ids = coll.get(where={"source": f"s3://{bucket}/long.txt"})["ids"]
    coll.delete(ids=sorted(ids)[1:])  # as if the run died after the first upsert batch

    result = ingest("--s3-url", f"s3://{bucket}/", vectors=True)
    assert summary(result).startswith("ingest: 1 processed, 1 skipped, 0 failed")
    assert collection(tmp_path / "chroma").count() == full

    (tmp_path / "out" / "fake.docx.json").unlink()  # as if the run died before committing the JSON
    result = ingest("--s3-url", f"s3://{bucket}/", vectors=True)
    assert summary(result).startswith("ingest: 1 processed, 1 skipped, 0 failed")
    assert collection(tmp_path / "chroma").count() == full


def test_query_finds_a_known_passage_in_the_top_3(s3, bucket, ingest, tmp_path):
    upload(s3, bucket)
    assert ingest("--s3-url", f"s3://{bucket}/docs/", vectors=True).exit_code == 0

    result = CliRunner().invoke(
        main_command(),
        ["query", "How many bottles of water were delivered?", "--k", "3", "--chroma-path", str(tmp_path / "chroma")],
    )

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len([line for line in lines if line[:2] in ("1.", "2.", "3.")]) == 3
    hit = next(i for i, line in enumerate(lines) if f"s3://{bucket}/docs/reports/fake-memo.pdf  page 1" in line)
    assert "20,000 bottles of water" in lines[hit + 1]


def test_plain_chromadb_reads_the_collection_with_langchain_metadata_names(s3, bucket, ingest, tmp_path):
    """What LangChain's Chroma wrapper does: query by embedding, read page_content and metadata['source']."""
    from sentence_transformers import SentenceTransformer

    from ingest.embedding import model_location

    upload(s3, bucket)
    assert ingest("--s3-url", f"s3://{bucket}/docs/", vectors=True).exit_code == 0

    model = SentenceTransformer(model_location("all-MiniLM-L6-v2"), device="cpu")
    found = collection(tmp_path / "chroma").query(
        query_embeddings=model.encode(["layout detection for document images"]).tolist(),
        n_results=1,
        include=["documents", "metadatas"],
    )
    assert found["metadatas"][0][0]["source"] == f"s3://{bucket}/docs/reports/layout-parser-paper-fast.pdf"
    assert found["documents"][0][0]


def test_chroma_server(s3, bucket, ingest, tmp_path, chroma_server):
    upload(s3, bucket, ["reports/fake-memo.pdf", "fake.docx"])
    args = ("--s3-url", f"s3://{bucket}/docs/", "--chroma-host", "127.0.0.1", "--chroma-port", str(chroma_server))

    assert ingest(*args, vectors=True).exit_code == 0
    assert summary(ingest(*args, vectors=True)).startswith("ingest: 0 processed, 2 skipped")

    server = chromadb.HttpClient(host="127.0.0.1", port=chroma_server).get_collection("ingest")
    assert server.count() == len(chunk_lines(tmp_path / "out"))
    result = CliRunner().invoke(
        main_command(), ["query", "bottles of water", "--chroma-host", "127.0.0.1", "--chroma-port", str(chroma_server)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("1. ") and f"s3://{bucket}/docs/reports/fake-memo.pdf  page 1" in result.stdout


def test_unreachable_chroma_server_is_a_config_error(s3, bucket, ingest):
    upload(s3, bucket, ["fake.docx"])
    port = free_port()
    result = ingest(
        "--s3-url",
        f"s3://{bucket}/docs/",
        "--chroma-host",
        "127.0.0.1",
        "--chroma-port",
        str(port),
        "--retries",
        "1",
        vectors=True,
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: Cannot reach the Chroma server at http://127.0.0.1:{port}: start it (chroma run --host 127.0.0.1 "
        f"--port {port} --path DIR) or check --chroma-host and --chroma-port"
    )


@pytest.mark.parametrize(
    "built_with, refusal",
    [
        (
            {"embedding_model": "some-768-model", "dimension": 768},
            "holds 768-dimensional vectors from 'some-768-model', but '{ours}' makes 384-dimensional ones: "
            "choose another --collection or the collection's model",
        ),
        (  # same dimension: its vectors are not comparable (and would be reused for equal texts)
            {"embedding_model": "paraphrase-MiniLM-L3-v2", "dimension": 384},
            "holds vectors from 'paraphrase-MiniLM-L3-v2', not '{ours}': choose another --collection, or "
            "the collection's --embedding-model and --embedding-backend (a name ending in (bf16) or (int8) is that "
            "backend's)",
        ),
    ],
)
def test_a_collection_of_another_model_is_a_config_error(s3, bucket, ingest, tmp_path, built_with, refusal):
    upload(s3, bucket, ["fake.docx"])
    chromadb.PersistentClient(path=str(tmp_path / "chroma")).create_collection("ingest", metadata=built_with)

    result = ingest("--s3-url", f"s3://{bucket}/docs/", vectors=True)

    assert result.exit_code == 2
    last = result.stderr.strip().splitlines()[-1]
    ours = vectors_of("all-MiniLM-L6-v2", resolve_backend("auto", "auto"))  # bf16 where the CPU computes it
    assert last == f"Error: The Chroma collection 'ingest' at {tmp_path / 'chroma'} {refusal.format(ours=ours)}"
    assert not list((tmp_path / "out").rglob("*.json"))


def test_unloadable_embedding_model_is_a_config_error(s3, bucket, ingest, tmp_path):
    upload(s3, bucket, ["fake.docx"])
    result = ingest("--s3-url", f"s3://{bucket}/docs/", "--embedding-model", str(tmp_path / "no-model"), vectors=True)
    assert result.exit_code == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: The embedding model '{tmp_path / 'no-model'}' could not be loaded (")
    assert last.endswith("); give a local model folder or the default all-MiniLM-L6-v2")


def test_chunking_settings_are_checked_at_start(s3, bucket, ingest):
    result = ingest("--s3-url", f"s3://{bucket}/", "--max-characters", "100", "--overlap", "200")
    assert result.exit_code == 2
    assert "Invalid value for chunking options: " in result.stderr


def test_chunking_none_indexes_elements(s3, bucket, ingest, tmp_path):
    upload(s3, bucket, ["fake-html.html"])
    assert ingest("--s3-url", f"s3://{bucket}/docs/", "--chunking", "none", vectors=True).exit_code == 0
    elements = json.loads((tmp_path / "out" / "fake-html.html.json").read_text())
    assert collection(tmp_path / "chroma").count() == len([e for e in elements if e["text"].strip()])
