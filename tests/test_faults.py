"""Flaky networks: a fault-injecting proxy (tests/faults.py) between ingest and the real moto and Chroma servers."""

from __future__ import annotations

import json
import shutil

import chromadb
import pytest

from conftest import EXAMPLES, summary, upload_folder
from faults import FaultProxy

BIG_OR_UNREADABLE = ("book-war-and-peace-1225p.txt", "handbook-872p.docx", "mime-attach-mp3.eml")


def proxied(bucket: str, s3_proxy: FaultProxy, chroma_proxy: FaultProxy, *args: str) -> tuple[str, ...]:
    """The arguments of a run from ``bucket``'s in/ through the two proxies."""
    return (
        "--s3-url",
        f"s3://{bucket}/in/",
        f"--endpoint-url={s3_proxy.url}",
        "--chroma-host",
        "127.0.0.1",
        "--chroma-port",
        str(chroma_proxy.port),
        *args,
    )


def chunk_count(out) -> int:
    return sum(len(p.read_text().splitlines()) for p in out.rglob("*.chunks.jsonl"))


@pytest.mark.slow
def test_a_run_through_20_percent_faults_gets_every_document_done(
    s3, bucket, s3_endpoint, ingest, tmp_path, corpus, chroma_server, recorder
):
    docs = tmp_path / "docs"
    shutil.copytree(corpus / "mixed", docs, ignore=shutil.ignore_patterns(*BIG_OR_UNREADABLE))
    shutil.copytree(EXAMPLES, docs / "examples")
    uploaded = upload_folder(s3, bucket, docs, "in/")
    with (
        FaultProxy(s3_endpoint, rate=0.2, seed=7) as s3_proxy,
        FaultProxy(f"http://127.0.0.1:{chroma_server}", rate=0.2, seed=8) as chroma_proxy,
    ):
        args = proxied(
            bucket, s3_proxy, chroma_proxy, "--retries", "8", "--summary-json", str(tmp_path / "summary.json")
        )
        first = ingest(*args, vectors=True)
        assert first.exit_code == 0, first.output
        report = json.loads((tmp_path / "summary.json").read_text())
        assert (report["processed"], report["failed"]) == (len(uploaded), 0)
        assert sum(s3_proxy.faults.values()) >= 5 and sum(chroma_proxy.faults.values()) >= 5, (
            s3_proxy.faults,
            chroma_proxy.faults,
        )

        recorder.start()
        second = ingest(*args, vectors=True)
        assert summary(second).startswith(f"ingest: 0 processed, {len(uploaded)} skipped, 0 failed")
        assert recorder.object_gets(bucket) == []

    server = chromadb.HttpClient(host="127.0.0.1", port=chroma_server).get_collection("ingest")
    assert server.count() == chunk_count(tmp_path / "out")  # every chunk once: retried writes doubled nothing


def test_a_server_that_stays_down_fails_its_documents_and_the_next_run_does_them(
    s3, bucket, s3_endpoint, ingest, tmp_path, chroma_server
):
    upload_folder(s3, bucket, EXAMPLES / "mail", "in/")
    s3.put_object(Bucket=bucket, Key="in/note.txt", Body=b"A note about the harbour.")
    with (
        FaultProxy(s3_endpoint, down_for=(b"/note.txt ",)) as s3_proxy,
        FaultProxy(f"http://127.0.0.1:{chroma_server}", down_for=(b"/upsert ",)) as chroma_proxy,
    ):
        args = proxied(
            bucket, s3_proxy, chroma_proxy, "--retries", "1", "--summary-json", str(tmp_path / "summary.json")
        )
        down = ingest(*args, vectors=True)
        report = json.loads((tmp_path / "summary.json").read_text())
        failures = {row["key"]: (row["stage"], row["error_type"]) for row in report["failures"]}
        assert down.exit_code == 1, down.output
        assert failures == {
            "in/note.txt": ("fetch", "ConnectionClosedError"),
            "in/fake-email.eml": ("index", "ReadError"),
        }, report["failures"]
        messages = {row["key"]: row["message"] for row in report["failures"]}
        assert messages["in/fake-email.eml"] == (
            f"the Chroma server at http://127.0.0.1:{chroma_proxy.port} did not answer after 1 retries ([Errno 104] "
            "Connection reset by peer); the next run tries again"
        )
        assert messages["in/note.txt"].startswith("S3 did not answer after 1 retries (Connection was closed before")
        assert not (tmp_path / "out" / "fake-email.eml.json").exists()  # nothing half-done is left as done
        assert s3_proxy.faults["reset"] >= 2 and chroma_proxy.faults["reset"] >= 2

    with FaultProxy(s3_endpoint) as s3_proxy, FaultProxy(f"http://127.0.0.1:{chroma_server}") as chroma_proxy:
        back = ingest(*proxied(bucket, s3_proxy, chroma_proxy), vectors=True)
    assert back.exit_code == 0, back.output
    assert summary(back).startswith("ingest: 2 processed, 0 skipped, 0 failed")
