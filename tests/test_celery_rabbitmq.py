"""`--executor celery` on RabbitMQ: Debian's rabbitmq-server as a node of the test's own (with a password), real
`ingest worker` processes, results sent back over the broker (rpc://) or kept in Redis; the Redis tests' helpers."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import time

import kombu
import pytest
from test_celery import celery_args, documents, failures, ingest, local_run, start_driver, vectors

from conftest import INGEST, RABBIT_PASSWORD, RabbitServer, RedisServer, Worker, free_port, output_state, serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def port_mapper():
    """Erlang's port mapper daemon, which the first node starts, goes with the last one."""
    running = subprocess.run(["epmd", "-names"], capture_output=True).returncode == 0
    yield
    if not running:
        subprocess.run(["epmd", "-kill"], capture_output=True)


@pytest.fixture
def broker(tmp_path):
    yield from serve(RabbitServer(tmp_path))


def test_rabbitmq_workers_give_the_local_outputs_and_vectors(broker, start_worker, chroma_port, tmp_path):
    docs = documents(tmp_path)
    workers = [start_worker(concurrency=1), start_worker(concurrency=1)]  # two on one host, named apart
    code, log, report = ingest(docs, tmp_path / "celery", *celery_args(broker, chroma_port))
    local_code, local_log, local_report = local_run(docs, tmp_path, chroma_port)

    assert (code, local_code) == (1, 1), log + local_log
    assert failures(report) == failures(local_report)
    assert {k: report[k] for k in ("processed", "failed", "pages", "chunks")} == {
        k: local_report[k] for k in ("processed", "failed", "pages", "chunks")
    }
    assert report["processed"] == 7
    assert output_state(tmp_path / "celery") == output_state(tmp_path / "local")  # byte for byte
    assert vectors(chroma_port, "ingest") == vectors(chroma_port, "local")
    assert all(worker.received() for worker in workers)  # both took tasks
    with kombu.Connection(broker.url) as connection:  # the task queue has priorities; the driver's replies are gone
        channel = connection.channel()
        channel.queue_declare(
            "ingest", durable=True, auto_delete=False, arguments={"x-max-priority": 2}
        )  # the same: accepted
        with pytest.raises(connection.channel_errors, match="x-max-priority"):
            connection.channel().queue_declare("ingest", durable=True, auto_delete=False)
    assert not [name for name in broker.queues() if name.startswith("ingest.replies.")]
    assert "DuplicateNodename" not in log + "".join(worker.text() for worker in workers)

    code, log, again = ingest(docs, tmp_path / "celery", *celery_args(broker, chroma_port))
    assert code == 1 and again["processed"] == 0 and again["skipped"] == 7, log
    everything = (
        log
        + (tmp_path / "celery-summary.json").read_text()
        + "".join(worker.text() for worker in workers)
        + "".join(
            str(row)
            for row in sqlite3.connect(tmp_path / "celery" / ".ingest" / "state.db").execute("select * from runs")
        )
    )
    assert RABBIT_PASSWORD not in everything and "amqp://***@127.0.0.1" in everything


def test_a_worker_killed_mid_document_leaves_it_to_another_with_results_in_redis(broker, chroma_port, tmp_path):
    docs = documents(tmp_path)
    store = RedisServer(tmp_path)
    store.start()
    worker = Worker(broker.url, tmp_path / "worker", "fake.docx=killonce", args=("--result-backend", store.url))
    try:
        code, log, report = ingest(
            docs, tmp_path / "out", *celery_args(broker, chroma_port), "--result-backend", store.url
        )
    finally:
        worker.stop()
        store.stop()

    assert (tmp_path / "worker" / "fake.docx.killed").exists()  # the process did die
    assert "WorkerLostError" in worker.text() or "signal 9" in worker.text(), worker.text()
    assert code == 1 and report["processed"] == 7, log  # corrupt.pdf and the scan fail; fake.docx is done
    rows = (
        sqlite3.connect(tmp_path / "out" / ".ingest" / "state.db")
        .execute("select status, attempts from documents where key = 'fake.docx'")
        .fetchall()
    )
    assert rows == [("done", 0)]
    stored = [m for _, m in vectors(chroma_port, "ingest").values() if m["source"].endswith("fake.docx")]
    assert len(stored) == stored[0]["chunk_count"]  # done once: no duplicate chunks


def test_the_run_survives_a_rabbitmq_restart(broker, start_worker, chroma_port, tmp_path):
    docs = documents(tmp_path)
    worker = start_worker(fault="fake.docx=slow")
    driver = start_driver(docs, tmp_path, "--max-attempts", "1", "-v", *celery_args(broker, chroma_port))
    deadline = time.monotonic() + 120
    while not (tmp_path / "worker-0" / "fake.docx.started").exists():
        assert time.monotonic() < deadline and driver.poll() is None, worker.text()
        time.sleep(0.1)
    broker.stop()  # mid-document: the task in progress is delivered again, the queued ones wait on disk
    time.sleep(2)
    broker.start()
    output, _ = driver.communicate(timeout=300)

    report = (tmp_path / "summary.json").read_text()
    assert driver.returncode == 1, output
    assert '"processed": 7' in report and '"failed": 2' in report, output
    assert (tmp_path / "out" / "fake.docx.json").exists()
    assert worker.process.poll() is None  # the worker reconnected by itself
    assert "Traceback" not in output and RABBIT_PASSWORD not in output + worker.text()


def test_rabbitmq_refusals_and_an_unreachable_broker_exit_2(broker, tmp_path):
    docs = documents(tmp_path)
    away = f"amqp://ingest:{RABBIT_PASSWORD}@127.0.0.1:{free_port()}//"
    wrong_password = broker.url.replace(RABBIT_PASSWORD, "not-the-password")
    shared = ["--executor", "celery", "--shared-folders", "--no-vectors"]
    for args, expected in (
        (["--broker-url", away], "Cannot reach the broker at amqp://***@127.0.0.1"),
        (["--broker-url", wrong_password], "Cannot reach the broker"),
        (["--broker-url", broker.url], "No ingest worker consumes the queue 'ingest'"),
        (["--broker-url", broker.url, "--result-backend", "http://x"], "is not a rpc:// or redis://"),
        (
            ["--broker-url", "redis://127.0.0.1:6379/0", "--result-backend", "rpc://"],
            "with a redis:// broker: the results are kept in the broker's own Redis; leave --result-backend out",
        ),
    ):
        code, log, _ = ingest(docs, tmp_path / "out", *shared, *args, timeout=120)
        assert code == 2 and expected in log and "Traceback" not in log, log
        assert RABBIT_PASSWORD not in log
    done = subprocess.run(
        [INGEST, "worker", "--broker-url", away],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "Cannot reach the broker" in done.stderr, done.stderr
    assert RABBIT_PASSWORD not in done.stderr


def test_a_rabbitmq_gone_for_good_ends_the_run_with_exit_1(broker, start_worker, tmp_path):
    docs = documents(tmp_path)
    start_worker(fault="fake.docx=slow")
    driver = start_driver(docs, tmp_path, "--broker-patience", "5", *celery_args(broker))
    deadline = time.monotonic() + 120
    while not (tmp_path / "worker-0" / "fake.docx.started").exists():
        assert time.monotonic() < deadline and driver.poll() is None
        time.sleep(0.1)
    broker.stop()
    stopped = time.monotonic()
    output, _ = driver.communicate(timeout=120)
    waited = time.monotonic() - stopped
    broker.start()  # for the worker's own shutdown

    report = json.loads((tmp_path / "summary.json").read_text())
    # the broker goes while the driver waits for results or while it still sends tasks: patience either way
    assert driver.returncode == 1 and re.search(r"did not (answer|take a task) for 5 s", report["error"]), output
    assert "Traceback" not in output and RABBIT_PASSWORD not in output
    assert 5 <= waited < 60
    done = {
        key
        for (key,) in sqlite3.connect(tmp_path / "out" / ".ingest" / "state.db").execute(
            "select key from documents where status = 'done'"
        )
    }
    assert "fake.docx" not in done and len(done) == report["processed"] < 7
