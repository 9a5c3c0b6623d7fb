"""Webhooks to real HTTP receivers on 127.0.0.1: the example receiver checks every signature; a flaky receiver
still gets every event; a dead one costs the run at most the documented bound."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time

import pytest
import requests

from conftest import EXAMPLES, FIXTURES, ROOT, WebhookReceiver, free_port, summary
from ingest.webhooks import FLUSH_SECONDS, sign

SECRET = "webhook-test-secret-0123456789"


def upload(s3, bucket):
    s3.upload_file(str(EXAMPLES / "reports" / "fake-memo.pdf"), bucket, "in/memo.pdf")
    s3.put_object(Bucket=bucket, Key="in/note.txt", Body=b"A note about the harbour.")
    s3.upload_file(str(FIXTURES / "corrupt.pdf"), bucket, "in/corrupt.pdf")


def test_every_event_arrives_signed_at_the_example_receiver(s3, bucket, ingest, tmp_path):
    upload(s3, bucket)
    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "webhook_receiver.py"), str(port)],
        env={"INGEST_WEBHOOK_SECRET": SECRET},
        stdout=subprocess.PIPE,
        text=True,
    )
    second = WebhookReceiver()
    try:
        for _ in range(50):
            try:
                requests.post(f"http://127.0.0.1:{port}/", data=b"{}", timeout=1)  # answered 401: unsigned
                break
            except (requests.ConnectionError, TypeError):
                time.sleep(0.1)
        result = ingest(
            "--s3-url",
            f"s3://{bucket}/in/",
            "--webhook-url",
            f"http://127.0.0.1:{port}/",
            "--webhook-url",
            second.url,
            "--webhook-secret",
            SECRET,
        )
    finally:
        receiver.terminate()
        output = receiver.communicate(timeout=10)[0]
        second.shutdown()

    assert result.exit_code == 1, result.output
    events = [json.loads(line) for line in output.splitlines()][1:]  # the first is the unsigned probe
    assert all(event["valid"] for event in events)
    assert sorted((e["event"], e.get("document", {}).get("key")) for e in events[:-1]) == [
        ("document.done", "in/memo.pdf"),
        ("document.done", "in/note.txt"),
        ("document.failed", "in/corrupt.pdf"),
    ]
    done = next(e for e in events if e.get("document", {}).get("key") == "in/memo.pdf")
    assert done["pages"] == 1 and done["chunks"] > 0 and done["document"]["source_url"] == f"s3://{bucket}/in/memo.pdf"
    failed = next(e for e in events if e["event"] == "document.failed")
    assert (failed["stage"], failed["error_type"]) == ("partition", "CorruptPDF")
    last = events[-1]
    assert last["event"] == "run.completed" and last["source"] == f"s3://{bucket}/in/"
    assert (last["summary"]["processed"], last["summary"]["failed"], last["summary"]["exit_code"]) == (2, 1, 1)
    assert len({e["run_id"] for e in events}) == 1

    assert [json.loads(body)["event"] for _, _, body in second.requests] == [e["event"] for e in events]
    for _, headers, body in second.requests:
        assert headers["X-Ingest-Signature"] == sign(SECRET, headers["X-Ingest-Timestamp"], body)
    everything = (
        output.encode()
        + b"".join(body for _, _, body in second.requests)
        + (tmp_path / "out" / ".ingest" / "state.db").read_bytes()
        + result.output.encode()
    )
    assert SECRET.encode() not in everything


def test_a_receiver_that_fails_twice_still_gets_every_event(s3, bucket, ingest):
    upload(s3, bucket)
    flaky = WebhookReceiver(statuses=[500, 503])
    result = ingest("--s3-url", f"s3://{bucket}/in/", "--webhook-url", flaky.url, "--webhook-secret", SECRET)
    flaky.shutdown()
    assert result.exit_code == 1
    assert [status for status, _, _ in flaky.requests][:3] == [500, 503, 200]
    assert sorted(e["event"] for e in flaky.delivered()) == [
        "document.done",
        "document.done",
        "document.failed",
        "run.completed",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("dead", ["refusing", "silent"])
def test_a_dead_receiver_delays_the_run_at_most_the_flush_bound(s3, bucket, ingest, tmp_path, dead):
    s3.put_object(Bucket=bucket, Key="in/note.txt", Body=b"A note about the harbour.")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    if dead == "silent":
        listener.listen(16)  # connections complete, nothing is ever answered: every try times out
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    try:
        started = time.monotonic()
        plain = ingest("--s3-url", f"s3://{bucket}/in/", out=tmp_path / "plain")
        baseline = time.monotonic() - started
        started = time.monotonic()
        hooked = ingest(
            "--s3-url", f"s3://{bucket}/in/", "--webhook-url", url, "--webhook-secret", SECRET, out=tmp_path / "hooked"
        )
        delay = time.monotonic() - started - baseline
    finally:
        listener.close()
    assert plain.exit_code == 0 and hooked.exit_code == 0, hooked.output
    assert summary(hooked).startswith("ingest: 1 processed")
    assert re.search(
        r"^webhooks: (run.completed to http://127.0.0.1:\d+/ not delivered: \w+|\d events not "
        r"delivered within 10 s of the run's end; dropped)$",
        hooked.stderr,
        re.MULTILINE,
    ), hooked.stderr
    assert delay < FLUSH_SECONDS + 8  # the bound, plus one request timeout and slack for a noisy machine


def test_webhooks_need_a_secret(ingest, bucket):
    result = ingest("--s3-url", f"s3://{bucket}/in/", "--webhook-url", "http://127.0.0.1:9/")
    assert result.exit_code == 2
    assert "--webhook-url needs --webhook-secret (or INGEST_WEBHOOK_SECRET) to sign its events" in result.output
