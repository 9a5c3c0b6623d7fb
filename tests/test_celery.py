"""`--executor celery`: the driver on one side of a real Redis broker (Debian's redis-server, with a password),
real `ingest worker` processes on the other, outputs in a shared folder and vectors in a real Chroma server."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import chromadb
import pytest
from test_images import doubled
from test_webhooks import SECRET

from conftest import (
    EXAMPLES,
    FAKE_KEYS,
    INGEST,
    TESTS,
    RedisServer,
    WebhookReceiver,
    Worker,
    free_port,
    output_state,
    serve,
)
from conftest import REDIS_PASSWORD as PASSWORD
from faults import FaultProxy
from ingest.webhooks import sign

pytestmark = pytest.mark.slow


@pytest.fixture
def broker(tmp_path):
    yield from serve(RedisServer(tmp_path))


def documents(tmp_path: Path) -> Path:
    """The examples (a 2-page PDF to split by pages, a scan that `fast` finds empty) and a corrupt PDF."""
    docs = tmp_path / "docs"
    shutil.copytree(EXAMPLES, docs)
    shutil.copy(TESTS / "fixtures" / "corrupt.pdf", docs / "reports")
    return docs


def ingest(docs: Path, out: Path | str, *args: str, env: dict | None = None, timeout: float = 600):
    """The driver as a user runs it; returns its exit code, stderr and summary."""
    summary = docs.parent / f"{str(out).rstrip('/').rpartition('/')[2]}-summary.json"
    done = subprocess.run(
        [
            INGEST,
            "--local-path",
            str(docs),
            "--structured-output-dir",
            str(out),
            "--strategy",
            "fast",
            "--split-pages",
            "1",
            "--max-attempts",
            "1",
            "--summary-json",
            str(summary),
            "-v",
            *args,
        ],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    report = json.loads(summary.read_text()) if summary.exists() else None
    return done.returncode, done.stdout + done.stderr, report


def local_run(docs: Path, tmp_path: Path, chroma_port: int, *args: str) -> tuple[int, str, dict]:
    """The same documents through the local pool, its vectors in the collection ``local`` of the same server."""
    return ingest(
        docs,
        tmp_path / "local",
        "--chroma-host",
        "127.0.0.1",
        "--chroma-port",
        str(chroma_port),
        "--collection",
        "local",
        *args,
    )


def celery_args(broker: RedisServer, chroma_port: int | None = None, shared: bool = True) -> list[str]:
    """The driver's flags for the workers: outputs in a shared folder (or not: S3), vectors in the Chroma server
    on ``chroma_port`` (or none)."""
    args = ["--executor", "celery", "--broker-url", broker.url] + (["--shared-folders"] if shared else [])
    if chroma_port is None:
        return [*args, "--no-vectors"]
    return [*args, "--chroma-host", "127.0.0.1", "--chroma-port", str(chroma_port)]


def vectors(port: int, collection: str) -> dict:
    got = (
        chromadb.HttpClient(host="127.0.0.1", port=port)
        .get_collection(collection)
        .get(include=["documents", "metadatas"])
    )
    return {i: (d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=False)}


def failures(report: dict) -> list[tuple]:
    return sorted((f["key"], f["stage"], f["error_type"], f["message"]) for f in report["failures"])


def test_celery_workers_give_the_local_outputs_and_vectors(broker, start_worker, chroma_port, tmp_path):
    docs = documents(tmp_path)
    workers = [start_worker(concurrency=1), start_worker(concurrency=1)]  # two on one host, named apart
    code, log, celery_report = ingest(docs, tmp_path / "celery", *celery_args(broker, chroma_port))
    local_code, local_log, local_report = local_run(docs, tmp_path, chroma_port)

    assert (code, local_code) == (1, 1), log + local_log  # the bad documents fail alone, the same way
    assert failures(celery_report) == failures(local_report)
    assert {f[0] for f in failures(celery_report)} == {"reports/corrupt.pdf", "reports/scanned-memo.pdf"}
    assert {k: celery_report[k] for k in ("processed", "failed", "pages", "chunks")} == {
        k: local_report[k] for k in ("processed", "failed", "pages", "chunks")
    }
    assert celery_report["processed"] == 7
    assert output_state(tmp_path / "celery") == output_state(tmp_path / "local")  # byte for byte
    assert vectors(chroma_port, "ingest") == vectors(chroma_port, "local")
    assert not (tmp_path / "celery" / ".ingest" / "parts").exists()

    assert "DuplicateNodename" not in log + "".join(worker.text() for worker in workers)

    received = [worker.received() for worker in workers]
    code, log, again = ingest(docs, tmp_path / "celery", *celery_args(broker, chroma_port))
    assert code == 1 and again["processed"] == 0 and again["skipped"] == 7, log  # the failures stay given up
    assert [worker.received() for worker in workers] == received  # nothing was enqueued
    leftovers = [key for key in broker.client().keys() if not key.startswith(b"_kombu")]
    assert leftovers == [], leftovers  # every result was collected and removed; nothing piles up

    everything = (
        log
        + (tmp_path / "celery-summary.json").read_text()
        + "".join(worker.text() for worker in workers)
        + "".join(
            str(row)
            for row in sqlite3.connect(tmp_path / "celery" / ".ingest" / "state.db").execute("select * from runs")
        )
    )
    assert PASSWORD not in everything


def test_celery_workers_write_outputs_to_s3_and_webhooks_go_out(
    broker, start_worker, chroma_port, s3, s3_endpoint, bucket, tmp_path
):
    docs = documents(tmp_path)
    start_worker()
    args = celery_args(broker, chroma_port)  # the documents are in a local folder: shared on this machine
    receiver = WebhookReceiver()
    try:
        code, log, report = ingest(
            docs,
            f"s3://{bucket}/out",
            "--endpoint-url",
            s3_endpoint,
            *args,
            "--webhook-url",
            receiver.url,
            "--webhook-secret",
            SECRET,
            env={"XDG_CACHE_HOME": str(tmp_path / "cache")},
        )
    finally:
        receiver.shutdown()
    local_code, local_log, _ = local_run(docs, tmp_path, chroma_port)

    assert (code, local_code) == (1, 1) and report["processed"] == 7, log + local_log
    stored = {}
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix="out/")["Contents"]:
        stored[obj["Key"][len("out/") :]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    assert stored == output_state(tmp_path / "local")  # no pending copies or parts left, the same bytes
    assert vectors(chroma_port, "ingest") == vectors(chroma_port, "local")
    events = [(headers, json.loads(body)) for _, headers, body in receiver.requests]
    assert sorted(event["event"] for _, event in events) == ["document.done"] * 7 + ["document.failed"] * 2 + [
        "run.completed"
    ]
    for _, headers, body in receiver.requests:
        assert headers["X-Ingest-Signature"] == sign(SECRET, headers["X-Ingest-Timestamp"], body)


def test_celery_workers_crop_the_figures_of_a_split_pdf_into_s3(
    broker, start_worker, s3, s3_endpoint, bucket, tmp_path
):
    docs = tmp_path / "docs"
    doubled(docs)  # two pages, split by one: each range on a worker, the merge writes the figures
    start_worker()
    images = ("--strategy", "auto", "--extract-images")
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    args = (*celery_args(broker), *images, "--endpoint-url", s3_endpoint)
    code, log, report = ingest(docs, f"s3://{bucket}/out", *args, env=cache)
    local_code, local_log, _ = ingest(docs, tmp_path / "local", "--no-vectors", *images)

    assert (code, local_code) == (0, 0) and report["processed"] == 1, log + local_log
    stored = {}
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix="out/")["Contents"]:
        stored[obj["Key"][len("out/") :]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    assert stored == output_state(tmp_path / "local")
    assert len([key for key in stored if key.startswith("twice.pdf.figures/")]) == 6


def test_a_document_with_many_chunks_is_embedded_in_slices_as_one_worker_would(
    broker, start_worker, chroma_port, tmp_path
):
    docs = documents(tmp_path)
    start_worker()
    small = ("--chunking", "basic", "--max-characters", "120")  # tens of chunks per document
    args = (*celery_args(broker, chroma_port), *small, "--embedding-slice", "8")
    code, log, report = ingest(docs, tmp_path / "celery", *args)
    local_code, local_log, _ = local_run(docs, tmp_path, chroma_port, *small)

    assert (code, local_code) == (1, 1) and report["processed"] == 7, log + local_log
    sliced = re.findall(r"embedding (\S+): (\d+) chunks in (\d+) slices", log)  # the two with over 8 chunks
    assert {key for key, _, _ in sliced} == {"reports/layout-parser-paper-fast.pdf", "norwich-city.txt"}, log
    assert all(int(n) == -(-int(chunks) // 8) for _, chunks, n in sliced), log
    assert output_state(tmp_path / "celery") == output_state(tmp_path / "local")
    assert vectors(chroma_port, "ingest") == vectors(chroma_port, "local")  # every chunk, text and metadata

    again = ingest(docs, tmp_path / "celery", *args)[2]
    assert again["processed"] == 0 and again["skipped"] == 7, again


def test_a_worker_killed_mid_document_leaves_it_to_another(broker, start_worker, chroma_port, tmp_path):
    docs = documents(tmp_path)
    worker = start_worker(fault="fake.docx=killonce")
    code, log, report = ingest(docs, tmp_path / "out", *celery_args(broker, chroma_port))

    assert (tmp_path / "worker-0" / "fake.docx.killed").exists()  # the process did die
    assert "WorkerLostError" in worker.text() or "signal 9" in worker.text(), worker.text()
    assert code == 1 and report["processed"] == 7, log  # corrupt.pdf and the scan fail; fake.docx is done
    rows = (
        sqlite3.connect(tmp_path / "out" / ".ingest" / "state.db")
        .execute("select status, attempts from documents where key = 'fake.docx'")
        .fetchall()
    )
    assert rows == [("done", 0)]  # done, with no failed attempt
    stored = [m for _, m in vectors(chroma_port, "ingest").values() if m["source"].endswith("fake.docx")]
    assert len(stored) == stored[0]["chunk_count"]  # done once: no duplicate chunks


def test_a_document_that_kills_every_worker_fails_after_two_tries(broker, start_worker, chroma_port, tmp_path):
    docs = documents(tmp_path)
    start_worker(fault="fake.docx=segfault")
    code, log, report = ingest(docs, tmp_path / "out", *celery_args(broker))
    assert code == 1, log
    assert ("fake.docx", "partition", "WorkerDied") in [f[:3] for f in failures(report)]
    assert report["processed"] == 6


def test_a_stuck_document_fails_with_timeout_and_its_worker_process_is_replaced(broker, start_worker, tmp_path):
    docs = documents(tmp_path)
    start_worker(fault="fake.docx=hang")
    code, log, report = ingest(docs, tmp_path / "out", "--doc-timeout", "5", *celery_args(broker))
    assert code == 1 and report["processed"] == 6, log
    [stuck] = [f for f in failures(report) if f[0] == "fake.docx"]
    assert stuck[1:] == ("partition", "Timeout", "took longer than --doc-timeout 5 s; its worker process was stopped")


def test_a_worker_without_credentials_for_the_s3_outputs_fails_each_task_clearly(broker, s3_endpoint, bucket, tmp_path):
    docs = documents(tmp_path)
    bare = {k: v for k, v in os.environ.items() if k not in FAKE_KEYS}  # the driver has credentials; the worker not
    worker = Worker(broker.url, tmp_path / "bare-worker", env=bare)
    try:
        code, log, report = ingest(
            docs,
            f"s3://{bucket}/out",
            "--endpoint-url",
            s3_endpoint,
            *celery_args(broker),
            env={"XDG_CACHE_HOME": str(tmp_path / "cache")},
        )
    finally:
        worker.stop()
    assert code == 1 and report["processed"] == 0 and report["failed"] == 9, log
    assert {
        (stage, kind, re.sub(r"^pages \d+-\d+: ", "", message))
        for key, stage, kind, message in failures(report)
        if key not in ("reports/corrupt.pdf", "reports/scanned-memo.pdf")
    } == {("write", "NoCredentialsError", "Unable to locate credentials")}  # the split PDF's range names its pages


def test_a_transient_fetch_error_is_retried_by_celery(broker, start_worker, s3, s3_endpoint, bucket, tmp_path):
    s3.upload_file(str(EXAMPLES / "reports" / "fake-memo.pdf"), bucket, "in/memo.pdf")
    s3.put_object(Bucket=bucket, Key="in/note.txt", Body=b"A note about the harbour.")
    worker = start_worker()
    with FaultProxy(s3_endpoint, down_for=(b"/in/memo.pdf ",)) as proxy:  # S3 is down for this object, for now
        driver = subprocess.Popen(  # S3 in, S3 out: nothing of this machine's is needed by the workers
            [
                INGEST,
                "--s3-url",
                f"s3://{bucket}/in/",
                "--endpoint-url",
                proxy.url,
                "--retries",
                "0",
                "--structured-output-dir",
                f"s3://{bucket}/out/",
                *celery_args(broker, shared=False),
            ],
            env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 120
        while "Retry in 2s" not in worker.text():
            assert time.monotonic() < deadline and driver.poll() is None, worker.text()
            time.sleep(0.1)
        proxy.down_for = ()  # S3 is back before the retry
        output, _ = driver.communicate(timeout=120)
    assert driver.returncode == 0 and "2 processed" in output, output
    assert s3.head_object(Bucket=bucket, Key="out/memo.pdf.json")["ContentLength"] > 0


def test_the_run_survives_a_broker_restart_and_tasks_are_json(broker, start_worker, chroma_port, tmp_path):
    docs = documents(tmp_path)
    worker = start_worker(fault="fake.docx=slow")
    driver = start_driver(
        docs,
        tmp_path,
        "--max-attempts",
        "1",
        "-v",
        *celery_args(broker, chroma_port),
        env={**os.environ, "INGEST_BROKER_URL": broker.url},
    )
    wait_until_held(broker, "fake.docx", driver)
    for body in in_progress(broker):
        json.loads(body)
        assert not any(secret in body for secret in (PASSWORD, *FAKE_KEYS.values()))
    broker.stop()  # mid-document: every queued task and the task in progress are lost with it
    time.sleep(2)
    broker.start()
    output, _ = driver.communicate(timeout=300)

    report = json.loads((tmp_path / "summary.json").read_text())
    assert driver.returncode == 1 and report["processed"] == 7 and report["failed"] == 2, output
    assert "restarted" in output
    assert (tmp_path / "out" / "fake.docx.json").exists()
    assert worker.process.poll() is None  # the worker reconnected by itself


def start_driver(docs: Path, tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    """`ingest` over ``docs`` with fast partitioning and a summary, running on while the test meddles."""
    command = [
        INGEST,
        "--local-path",
        str(docs),
        "--structured-output-dir",
        str(tmp_path / "out"),
        "--strategy",
        "fast",
        "--summary-json",
        str(tmp_path / "summary.json"),
        *args,
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_until_held(broker: RedisServer, name: str, driver: subprocess.Popen) -> None:
    """Until a worker holds the task of ``name`` (the broker keeps it until done)."""
    deadline = time.monotonic() + 120
    while not any(name in body for body in in_progress(broker)):
        assert time.monotonic() < deadline and driver.poll() is None
        time.sleep(0.1)


def in_progress(broker: RedisServer) -> list[str]:
    """The bodies of the tasks workers hold (kombu keeps them in Redis until acknowledged), checked to be JSON."""
    bodies = []
    for value in broker.client().hgetall("unacked").values():
        message = json.loads(value)[0]
        assert message["content-type"] == "application/json"
        bodies.append(base64.b64decode(message["body"]).decode())
    return bodies


def test_a_broker_gone_for_good_ends_the_run_with_exit_1_and_nothing_undone_recorded(broker, start_worker, tmp_path):
    docs = documents(tmp_path)
    start_worker(fault="fake.docx=slow")
    driver = start_driver(docs, tmp_path, "--broker-patience", "5", *celery_args(broker))
    wait_until_held(broker, "fake.docx", driver)
    broker.stop()
    stopped = time.monotonic()
    output, _ = driver.communicate(timeout=120)
    waited = time.monotonic() - stopped
    broker.start()  # for the worker's own shutdown

    report = json.loads((tmp_path / "summary.json").read_text())
    # the broker goes while the driver waits for results or while it still sends tasks: patience either way
    assert driver.returncode == 1 and re.search(r"did not (answer|take a task) for 5 s", report["error"]), output
    assert "Traceback" not in output and PASSWORD not in output
    assert 5 <= waited < 60
    done = {
        key
        for (key,) in sqlite3.connect(tmp_path / "out" / ".ingest" / "state.db").execute(
            "select key from documents where status = 'done'"
        )
    }
    assert "fake.docx" not in done and len(done) == report["processed"] < 7


def test_celery_refuses_what_cannot_work_across_machines(broker, tmp_path):
    docs = documents(tmp_path)
    for args, expected in (
        (["--executor", "celery", "--broker-url", broker.url, "--no-vectors"], "--local-path"),
        (
            [
                "--executor",
                "celery",
                "--broker-url",
                broker.url,
                "--no-vectors",
                "--structured-output-dir",
                "s3://any-bucket/out/",
            ],
            "--local-path",
        ),  # S3 outputs, but the documents are still only here
        (["--executor", "celery", "--broker-url", broker.url, "--shared-folders"], "--chroma-host"),
        (["--executor", "celery", "--shared-folders", "--no-vectors"], "--broker-url"),
        (["--executor", "celery", "--broker-url", "http://x", "--shared-folders", "--no-vectors"], "redis://"),
        (
            ["--executor", "celery", "--broker-url", broker.url, "--shared-folders", "--no-vectors"],
            "No ingest worker consumes the queue 'ingest'",
        ),
        (
            [
                "--executor",
                "celery",
                "--broker-url",
                f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0",
                "--shared-folders",
                "--no-vectors",
            ],
            "Cannot reach the broker",
        ),
    ):
        code, log, _ = ingest(docs, tmp_path / "out", *args)
        assert code == 2 and expected in log and "Traceback" not in log, log
        assert PASSWORD not in log
    done = subprocess.run(
        [
            INGEST,
            "--s3-url",
            "s3://any-bucket/in/",
            "--executor",
            "celery",
            "--broker-url",
            broker.url,
            "--no-vectors",
            "--structured-output-dir",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--structured-output-dir" in done.stderr and "s3://" in done.stderr
    done = subprocess.run(
        [INGEST, "worker", "--broker-url", f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Cannot reach the broker" in done.stderr and PASSWORD not in done.stderr
