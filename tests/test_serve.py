"""`ingest serve` as a user runs it: the console script on a free port, real moto S3, the real ledger, runs in child
processes; webhooks to a real receiver; the page in a real headless Chromium (tests/test_serve_browser.py)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from conftest import EXAMPLES, FIXTURES, INGEST, TESTS, WebhookReceiver, free_port, run_local
from conftest import SERVE_TOKEN as TOKEN
from ingest.models import RunSummary
from ingest.webhooks import sign

SECRET = "serve-webhook-secret-0123456789"
SCRIPT_KEY = "in/<script>alert(1)</script>.txt"


def test_a_run_sent_over_http_runs_and_reports_like_the_command_line(s3, bucket, s3_endpoint, ingest_server, tmp_path):
    s3.upload_file(str(EXAMPLES / "reports" / "fake-memo.pdf"), bucket, "in/memo.pdf")
    s3.put_object(Bucket=bucket, Key="in/note.txt", Body=b"A note about the harbour.")
    s3.put_object(Bucket=bucket, Key=SCRIPT_KEY, Body=b"Keys are untrusted and shown in pages.")
    s3.upload_file(str(FIXTURES / "corrupt.pdf"), bucket, "in/corrupt.pdf")
    api = ingest_server("--endpoint-url", s3_endpoint, "--inbox", f"s3://{bucket}/inbox")

    body = {"source": f"s3://{bucket}/in/"}
    assert api.post("/api/runs", token=None, json=body).status_code == 401
    assert api.post("/api/runs", token="wrong", json=body).status_code == 401
    refusals = {
        "not json": api.post("/api/runs", data="source=s3://x"),
        "unknown": api.post("/api/runs", json={**body, "dry": True}),
        "strategy": api.post("/api/runs", json={**body, "strategy": "fastest"}),
        "no source": api.post("/api/runs", json={}),
        "outside": api.post("/api/runs", json={"source": str(tmp_path)}),
        "callback": api.post("/api/runs", json={**body, "callback_url": "http://127.0.0.1:9/"}),
    }
    assert {name: answer.status_code for name, answer in refusals.items()} == {
        "not json": 400,
        "unknown": 400,
        "strategy": 400,
        "no source": 400,
        "outside": 403,
        "callback": 409,
    }
    assert refusals["unknown"].json()["error"].startswith("unknown field 'dry'; a run takes source, strategy")
    assert "--allow-folder" in refusals["outside"].json()["error"]
    assert "--webhook-secret" in refusals["callback"].json()["error"]
    assert api.get("/api/runs").json()["total"] == 0  # refused requests queue nothing

    accepted = api.post("/api/runs", json=body)
    assert accepted.status_code == 202
    run_id = accepted.json()["run_id"]
    assert accepted.json() == {
        "run_id": run_id,
        "status_url": f"/api/runs/{run_id}",
        "result_url": f"/api/runs/{run_id}/result",
    }
    early = api.get(f"/api/runs/{run_id}/result")
    assert early.status_code == 404 and early.json()["error"].startswith(f"run {run_id} is ")

    run = api.wait(run_id)
    assert run["status"] == "done" and run["exit_code"] == 1
    assert run["documents"] == {"total": 4, "done": 4}
    assert {k: run["counts"][k] for k in ("processed", "failed", "skipped")} == {
        "processed": 3,
        "failed": 1,
        "skipped": 0,
    }
    result = api.get(f"/api/runs/{run_id}/result").json()
    assert set(result) == set(RunSummary().to_dict())  # what --summary-json writes
    assert [(f["key"], f["stage"], f["error_type"]) for f in result["failures"]] == [
        ("in/corrupt.pdf", "partition", "CorruptPDF")
    ]
    assert (result["processed"], result["failed"], result["exit_code"]) == (3, 1, 1)

    failed = api.get("/api/documents", status="failed").json()
    assert [doc["key"] for doc in failed["documents"]] == ["in/corrupt.pdf"] and failed["total"] == 1
    assert api.get("/api/documents", prefix="in/n").json()["documents"][0]["key"] == "in/note.txt"
    assert api.get("/api/documents", status="lost").status_code == 400
    assert api.get("/api/runs/999").status_code == 404

    page = api.get(f"/runs/{run_id}").text
    assert "in/&lt;script&gt;alert(1)&lt;/script&gt;.txt" in page and "<script>alert" not in page
    assert page.index("in/corrupt.pdf") < page.index("in/memo.pdf")  # failures first
    assert "script-src" not in page and "default-src 'self'" in api.get("/").headers["Content-Security-Policy"]

    again = api.post("/api/runs", json=body).json()["run_id"]
    rerun = api.wait(again)
    assert rerun["counts"]["skipped"] == 3 and rerun["counts"]["processed"] == 0  # the failed one is tried again
    assert [r["run_id"] for r in api.get("/api/runs").json()["runs"]] == [again, run_id]
    assert [r["run_id"] for r in api.get("/api/runs", per_page=1, page=2).json()["runs"]] == [run_id]
    uploaded = api.post("/api/uploads", files=[("files", ("sub/report.txt", b"Uploaded into an S3 inbox."))])
    assert uploaded.json()["stored"] == ["sub/report.txt"]
    assert s3.head_object(Bucket=bucket, Key="inbox/sub/report.txt")["ContentType"] == "text/plain"
    inbox_run = api.wait(uploaded.json()["run_id"])
    assert (inbox_run["source"], inbox_run["counts"]["processed"], inbox_run["counts"]["deleted"]) == (
        f"s3://{bucket}/inbox/",
        1,
        0,
    )
    assert TOKEN.encode() not in b"".join(api.bodies) + (api.out / ".ingest" / "state.db").read_bytes()
    assert TOKEN not in api.log.read_text()


def test_uploads_are_checked_stored_run_and_called_back(ingest_server, tmp_path):
    inbox = tmp_path / "inbox"
    receiver = WebhookReceiver()
    api = ingest_server(
        "--inbox", str(inbox), "--max-upload-files", "3", "--max-upload-mb", "1", env={"INGEST_WEBHOOK_SECRET": SECRET}
    )
    try:
        bad = api.post("/api/uploads", files=[("files", ("../evil.txt", b"x")), ("files", ("ok.txt", b"x"))])
        assert bad.status_code == 400 and "'..'" in bad.json()["error"]
        too_many = api.post("/api/uploads", files=[("files", (f"{n}.txt", b"x")) for n in range(4)])
        assert too_many.status_code == 413
        too_big = api.post("/api/uploads", files=[("files", ("big.txt", b"x" * (2 << 20)))])
        assert too_big.status_code == 413
        assert api.post("/api/uploads", token=None, files=[("files", ("a.txt", b"x"))]).status_code == 401
        assert not inbox.exists() or not any(inbox.iterdir())  # nothing refused was stored

        answer = api.post(
            "/api/uploads",
            data={"callback_url": receiver.url},
            files=[
                ("files", ("memo.pdf", (EXAMPLES / "reports" / "fake-memo.pdf").read_bytes())),
                ("files", ("notes/harbour.txt", b"The harbour opens at six.")),
            ],
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["stored"] == ["memo.pdf", "notes/harbour.txt"]
        run = api.wait(answer.json()["run_id"])
        assert run["status"] == "done" and run["counts"]["processed"] == 2
        assert (api.out / "notes" / "harbour.txt.json").is_file()
        deadline = time.monotonic() + 20
        while len(receiver.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        receiver.shutdown()
    events = receiver.delivered()
    assert sorted(e["event"] for e in events) == ["document.done", "document.done", "run.completed"]
    assert events[-1]["run_id"] == run["run_id"]
    for _, headers, body in receiver.requests:
        assert headers["X-Ingest-Signature"] == sign(SECRET, headers["X-Ingest-Timestamp"], body)
    assert SECRET.encode() not in b"".join(api.bodies)


def test_a_run_from_the_command_line_shows_up_and_moves(ingest_server, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("a.txt", "b.txt", "slow-c.txt"):
        (folder / name).write_text(f"The document {name}.")
    api = ingest_server()
    env = {
        **os.environ,
        "PYTHONPATH": str(TESTS / "crash"),
        "INGEST_TEST_FAULT": "slow-c=slow",
        "INGEST_TEST_FAULT_DIR": str(tmp_path),
    }
    command = [
        INGEST,
        "--local-path",
        str(folder),
        "--structured-output-dir",
        str(api.out),
        "--no-vectors",
        "--num-processes",
        "1",
        "--download-dir",
        str(tmp_path / "downloads"),
    ]
    cron = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = []
    while cron.poll() is None:
        runs = api.get("/api/runs").json()["runs"]
        if runs:
            seen.append((runs[0]["status"], runs[0]["documents"]["done"], runs[0]["documents"]["total"]))
        time.sleep(0.2)
    assert cron.returncode == 0, cron.stderr.read()
    moving = [(done, total) for status, done, total in seen if status == "running" and total]
    assert moving and any(done < total for done, total in moving), seen  # seen mid-run, by the server
    run = api.get("/api/runs").json()["runs"][0]
    assert (run["status"], run["documents"], run["counts"]["processed"]) == ("done", {"total": 3, "done": 3}, 3)
    assert "slow-c.txt" in api.get(f"/runs/{run['run_id']}").text


def slow_document_server(ingest_server, tmp_path):
    """A server over a folder of one document that takes 8 s to partition (tests/crash's "slow" fault)."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "slow-a.txt").write_text("A slow document.")
    return ingest_server(
        "--local-path", str(folder), env={"INGEST_TEST_FAULT": "slow-a=slow", "INGEST_TEST_FAULT_DIR": str(tmp_path)}
    )


def partitioning(api, tmp_path, run_id: int) -> int:
    """The process of run ``run_id``, once it is partitioning the slow document."""
    deadline = time.monotonic() + 60
    while not (tmp_path / "slow-a.started").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    with sqlite3.connect(api.out / ".ingest" / "state.db") as db:
        return db.execute("SELECT pid FROM runs WHERE id=?", (run_id,)).fetchone()[0]


def test_a_run_that_crashes_costs_the_run_not_the_server(ingest_server, tmp_path):
    api = slow_document_server(ingest_server, tmp_path)
    first = api.post("/api/runs").json()["run_id"]  # no body: the server's source
    second = api.post("/api/runs", data=json.dumps({"source": str(tmp_path / "docs"), "reprocess": True})).json()
    assert api.get(f"/api/runs/{second['run_id']}").json()["status"] == "queued"  # one at a time
    os.kill(partitioning(api, tmp_path, first), signal.SIGKILL)  # the run's process, as the OOM killer would

    crashed = api.wait(first)
    assert crashed["status"] == "failed" and "ended" in crashed["error"]
    assert api.get(f"/api/runs/{first}/result").status_code == 404
    assert api.get("/api/health").json()["status"] == "ok"
    after = api.wait(second["run_id"])  # the next one runs, and does the document
    assert after["status"] == "done" and after["counts"]["processed"] == 1


def test_sigterm_stops_the_server_and_the_run_going_on(ingest_server, tmp_path):
    api = slow_document_server(ingest_server, tmp_path)
    run_id = api.post("/api/runs").json()["run_id"]
    pid = partitioning(api, tmp_path, run_id)

    api.process.send_signal(signal.SIGTERM)  # as systemd or `docker stop` stops a service

    assert api.process.wait(20) == 0
    assert api.log.read_text().rstrip().endswith("ingest serve: stopped")  # no traceback, no leak warning
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the run's process ended with the server
    with sqlite3.connect(api.out / ".ingest" / "state.db") as db:
        status, error = db.execute("SELECT status, error FROM runs WHERE id=?", (run_id,)).fetchone()
    assert (status, error.split(":")[0]) == ("failed", "stopped with the server")


def test_other_output_folders_are_shown_read_only(ingest_server, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("A document in another pipeline.")
    other, never = tmp_path / "other-out", tmp_path / "never-out"
    assert run_local(folder, other)[0] == 0
    api = ingest_server("--watch", str(other), "--watch", str(never))

    runs = api.get("/api/runs", folder="1").json()["runs"]
    assert [(r["run_id"], r["status"], r["folder"]) for r in runs] == [(1, "done", 1)]
    assert runs[0]["status_url"] == "/api/runs/1?folder=1"
    assert api.get(runs[0]["status_url"]).json()["counts"]["processed"] == 1
    assert [d["key"] for d in api.get("/api/documents", folder="1").json()["documents"]] == ["a.txt"]
    assert api.get("/api/runs").json()["total"] == 0  # the server's own folder
    assert api.get("/api/runs", folder="2").status_code == 404 and not never.exists()  # nothing made there
    assert api.get("/api/runs", folder="3").status_code == 404
    assert api.get("/api/runs", folder="x").status_code == 400
    watched = api.get("/", folder="1").text
    assert 'href="/runs/1?folder=1"' in watched and 'id="start-run"' not in watched
    assert 'id="start-run"' in api.get("/").text


def test_the_server_refuses_to_listen_beyond_this_machine_without_a_token(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "INGEST_SERVE_TOKEN"}
    done = subprocess.run(
        [
            INGEST,
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
            "--structured-output-dir",
            str(tmp_path / "out"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "give it --token (or INGEST_SERVE_TOKEN)" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""
