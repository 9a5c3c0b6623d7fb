"""The run ledger as cron and CI use it: deletions, retries, status, dry runs, the lock, and runs killed with
SIGKILL that the next run repairs to exactly what a clean run gives."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import EXAMPLES, FIXTURES, collection_state, main_command, output_state, summary

TESTS = Path(__file__).resolve().parent


def status(*args):
    return CliRunner().invoke(main_command(), ["status", *args], catch_exceptions=False)


def put_text(s3, bucket, key, text):
    s3.put_object(Bucket=bucket, Key=key, Body=text.encode())


def test_deleted_object_loses_its_outputs_vectors_and_ledger_entry(s3, bucket, ingest, tmp_path):
    for name in ("a", "b", "c"):
        put_text(s3, bucket, f"docs/{name}.txt", f"Document {name} says something about {name}.")
    assert ingest("--s3-url", f"s3://{bucket}/docs/", vectors=True).exit_code == 0
    s3.delete_object(Bucket=bucket, Key="docs/b.txt")

    result = ingest("--s3-url", f"s3://{bucket}/docs/", vectors=True)

    assert result.exit_code == 0, result.output
    assert summary(result).startswith("ingest: 0 processed, 2 skipped, 0 failed, 1 deleted")
    assert sorted(output_state(tmp_path / "out")) == [
        "a.txt.chunks.jsonl",
        "a.txt.json",
        "c.txt.chunks.jsonl",
        "c.txt.json",
    ]
    sources = {m["source"] for _, m in collection_state(tmp_path / "chroma").values()}
    assert sources == {f"s3://{bucket}/docs/a.txt", f"s3://{bucket}/docs/c.txt"}
    report = json.loads(status("--structured-output-dir", str(tmp_path / "out"), "--json").stdout)
    assert sorted(d["key"] for d in report["documents"]) == ["docs/a.txt", "docs/c.txt"]


def test_deletions_only_follow_a_full_listing(s3, bucket, ingest, tmp_path):
    for name in ("a.txt", "b.txt", "c.docx"):
        put_text(s3, bucket, f"docs/{name}", f"Text of {name}.") if name.endswith(".txt") else s3.upload_file(
            str(EXAMPLES / "fake.docx"), bucket, f"docs/{name}"
        )
    assert ingest("--s3-url", f"s3://{bucket}/docs/").exit_code == 0
    s3.delete_object(Bucket=bucket, Key="docs/b.txt")

    for partial in (
        ("--s3-url", f"s3://{bucket}/docs/a.txt"),
        ("--s3-url", f"s3://{bucket}/docs/", "--include", "*.txt"),
        ("--s3-url", f"s3://{bucket}/docs/", "--exclude", "*.docx"),
        ("--s3-url", f"s3://{bucket}/docs/", "--no-sync-deletes"),
    ):
        assert " 0 deleted" in summary(ingest(*partial)), partial
        assert (tmp_path / "out" / "b.txt.json").exists()

    assert " 1 deleted" in summary(ingest("--s3-url", f"s3://{bucket}/docs/"))
    assert not (tmp_path / "out" / "b.txt.json").exists()


def test_lost_ledger_is_rebuilt_from_the_outputs(s3, bucket, ingest, tmp_path):
    for name in ("a", "b"):
        put_text(s3, bucket, f"{name}.txt", f"Document {name}.")
    assert ingest("--s3-url", f"s3://{bucket}/").exit_code == 0
    for path in (tmp_path / "out" / ".ingest").glob("state.db*"):
        path.unlink()
    s3.delete_object(Bucket=bucket, Key="b.txt")

    result = ingest("--s3-url", f"s3://{bucket}/")

    assert summary(result).startswith("ingest: 0 processed, 1 skipped, 0 failed, 1 deleted")
    lines = status("--structured-output-dir", str(tmp_path / "out")).stdout.splitlines()
    assert lines[0].startswith("documents: 1 done, 0 failed")
    assert "done    a.txt  (last done before this ledger)" in lines


def test_failed_document_is_retried_up_to_max_attempts(s3, bucket, ingest, tmp_path):
    s3.upload_file(str(FIXTURES / "corrupt.pdf"), bucket, "bad.pdf")
    put_text(s3, bucket, "good.txt", "A fine document.")
    args = ("--s3-url", f"s3://{bucket}/", "--max-attempts", "2")

    first, second, third = ingest(*args), ingest(*args), ingest(*args)

    assert [r.exit_code for r in (first, second, third)] == [1, 1, 1]
    assert "FAILED bad.pdf [partition]" in second.stderr
    report = json.loads(status("--structured-output-dir", str(tmp_path / "out"), "--json", "--failed").stdout)
    [bad] = report["documents"]
    assert (bad["key"], bad["attempts"], bad["stage"]) == ("bad.pdf", 2, "partition")
    assert (
        f"FAILED bad.pdf [partition] GaveUp: gave up after 2 attempts ({bad['error_type']}: {bad['error']}); "
        "it is tried again when the object changes, or with --retry-failed"
    ) in third.stderr

    ingest(*args, "--retry-failed")
    assert (
        json.loads(status("--structured-output-dir", str(tmp_path / "out"), "--json", "--failed").stdout)["documents"][
            0
        ]["attempts"]
        == 3
    )
    s3.upload_file(str(EXAMPLES / "reports" / "fake-memo.pdf"), bucket, "bad.pdf")  # the object is fixed
    assert ingest(*args).exit_code == 0


def test_status_shows_runs_documents_and_failures(s3, bucket, ingest, tmp_path):
    s3.upload_file(str(FIXTURES / "corrupt.pdf"), bucket, "in/bad.pdf")
    put_text(s3, bucket, "in/good.txt", "A fine document.")
    ingest("--s3-url", f"s3://{bucket}/in/")

    text = status("--structured-output-dir", str(tmp_path / "out"))
    assert text.exit_code == 0
    lines = text.stdout.splitlines()
    assert lines[0] == f"documents: 1 done, 1 failed   (ledger: {tmp_path / 'out' / '.ingest' / 'state.db'})"
    assert lines[1].startswith("run 1: ") and lines[1].endswith(
        f"s3://{bucket}/in/  1 processed, 0 skipped, 1 failed, 0 deleted, exit 1"
    )
    assert any(line.startswith("failed  in/bad.pdf  [partition] ") and "(1 attempts, last " in line for line in lines)
    assert any(line.startswith("done    in/good.txt  (last done 20") for line in lines)
    only_failed = status("--structured-output-dir", str(tmp_path / "out"), "--failed").stdout
    assert "in/good.txt" not in only_failed and "in/bad.pdf" in only_failed
    report = json.loads(status("--structured-output-dir", str(tmp_path / "out"), "--json").stdout)
    assert report["counts"] == {"done": 1, "failed": 1}
    assert report["runs"][0]["arguments"]["s3_url"] == [bucket, "in/"]

    missing = status("--structured-output-dir", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2
    assert missing.stderr == (
        f"Error: No ledger at {tmp_path / 'nowhere' / '.ingest' / 'state.db'}: run ingest with "
        "this --structured-output-dir first, or give --state-path\n"
    )


def test_dry_run_says_what_and_why_and_changes_nothing(s3, bucket, ingest, tmp_path):
    for name in ("same", "changed", "deleted"):
        put_text(s3, bucket, f"{name}.txt", f"The {name} document.")
    assert ingest("--s3-url", f"s3://{bucket}/", vectors=True).exit_code == 0
    put_text(s3, bucket, "changed.txt", "The changed document, changed.")
    put_text(s3, bucket, "new.txt", "A new document.")
    s3.delete_object(Bucket=bucket, Key="deleted.txt")
    before = (output_state(tmp_path / "out"), collection_state(tmp_path / "chroma"))

    result = ingest("--s3-url", f"s3://{bucket}/", "--dry-run", vectors=True)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "process  changed.txt  (changed)",
        "process  new.txt  (new)",
        "skip     same.txt  (unchanged)",
        f"delete   s3://{bucket}/deleted.txt  (gone from the listing)",
        "ingest (dry run): 2 to process, 1 unchanged, 1 to delete, 0 refused; nothing was changed",
    ]
    assert (output_state(tmp_path / "out"), collection_state(tmp_path / "chroma")) == before
    settings = ingest("--s3-url", f"s3://{bucket}/", "--dry-run", "--strategy", "fast", "--include", "same.txt")
    assert settings.stdout.splitlines()[0] == "process  same.txt  (settings changed)"


def test_a_second_run_on_the_same_outputs_exits_3_or_waits(s3, bucket, ingest, tmp_path):
    from ingest.lock import RunLock

    put_text(s3, bucket, "a.txt", "A document.")
    holder = RunLock(tmp_path / "out" / ".ingest" / "lock")
    holder.acquire(wait=False, output_dir=tmp_path / "out")
    holder_info = json.loads((tmp_path / "out" / ".ingest" / "lock").read_text())

    blocked = ingest("--s3-url", f"s3://{bucket}/")
    assert blocked.exit_code == 3
    assert blocked.stderr == (
        f"ingest: Another ingest run (pid {os.getpid()}, started {holder_info['started']}) is "
        f"writing to {tmp_path / 'out'}; this run did nothing. Pass --wait-lock to wait for it\n"
    )
    assert not (tmp_path / "out" / "a.txt.json").exists()

    threading.Timer(1.5, holder.release).start()
    waited = ingest("--s3-url", f"s3://{bucket}/", "--wait-lock")
    assert waited.exit_code == 0
    assert (tmp_path / "out" / "a.txt.json").exists()


# -- runs killed with SIGKILL ------------------------------------------------------------------------------------


def run_cli(endpoint, url, out, chroma, downloads, kill_at=None, kill_after=1, kill_mid=False, kill_in=None):
    """`ingest` as a separate process; killed by the fault hook (kill_at) or after kill_in seconds."""
    env = {**os.environ, "PYTHONPATH": str(TESTS / "crash")}
    if kill_at:
        env.update(INGEST_TEST_KILL_AT=kill_at, INGEST_TEST_KILL_AFTER=str(kill_after))
        if kill_mid:
            env["INGEST_TEST_KILL_MID"] = "1"
    command = [
        str(Path(sys.executable).parent / "ingest"),
        "--s3-url",
        url,
        "--endpoint-url",
        endpoint,
        "--structured-output-dir",
        str(out),
        "--chroma-path",
        str(chroma),
        "--download-dir",
        str(downloads),
        "--num-processes",
        "2",
        "--chunking",
        "basic",
        "--max-characters",
        "120",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=kill_in)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        stdout, stderr = process.communicate()
    return process.returncode, stdout, stderr


def assert_same_as_clean_run(s3_endpoint, url, tmp_path, out, chroma, label):
    clean_out, clean_chroma = tmp_path / f"clean-{label}", tmp_path / f"clean-chroma-{label}"
    code, _, stderr = run_cli(s3_endpoint, url, clean_out, clean_chroma, tmp_path / "downloads-clean")
    assert code == 0, stderr
    assert output_state(out) == output_state(clean_out)
    assert collection_state(chroma) == collection_state(clean_chroma)


LONG = "\n\n".join(f"Section {i}: the quay at berth {i} handles grain, timber and coal every day." for i in range(8))


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill_at, kill_after, kill_mid",
    [
        ("ingest.partition:partition_file", 2, False),  # mid-partition, in a worker
        ("ingest.writers.storage:atomic_write", 3, False),  # mid-write: chunks written, element JSON not
        ("ingest.writers.chroma:ChromaIndex.replace", 2, True),  # mid-upsert: one chunk of a document stored
    ],
)
def test_a_run_killed_mid_stage_is_repaired_by_the_next(
    s3, bucket, s3_endpoint, tmp_path, kill_at, kill_after, kill_mid
):
    for i in range(4):
        put_text(s3, bucket, f"docs/d{i}.txt", LONG.replace("grain", f"grain-{i}"))
    url, out, chroma = f"s3://{bucket}/docs/", tmp_path / "out", tmp_path / "chroma"
    assert run_cli(s3_endpoint, url, out, chroma, tmp_path / "dl")[0] == 0
    for i in range(4):  # every document changes, so the killed run has work in flight
        put_text(s3, bucket, f"docs/d{i}.txt", LONG.replace("coal", f"coal-{i}")[: 200 + 60 * i])

    code, _, _ = run_cli(s3_endpoint, url, out, chroma, tmp_path / "dl", kill_at, kill_after, kill_mid)
    assert code == -signal.SIGKILL
    code, stdout, stderr = run_cli(s3_endpoint, url, out, chroma, tmp_path / "dl")
    assert code == 0, stderr

    assert_same_as_clean_run(s3_endpoint, url, tmp_path, out, chroma, "final")


def test_the_same_bytes_uploaded_again_leave_what_a_clean_run_leaves(s3, bucket, s3_endpoint, tmp_path):
    """A new LastModified with the same ETag is no change: skipped, and no output or vector keeps an old time."""
    put_text(s3, bucket, "docs/a.txt", LONG)
    url, out, chroma = f"s3://{bucket}/docs/", tmp_path / "out", tmp_path / "chroma"
    assert run_cli(s3_endpoint, url, out, chroma, tmp_path / "dl")[0] == 0
    before = s3.head_object(Bucket=bucket, Key="docs/a.txt")["LastModified"]
    time.sleep(1.1)
    put_text(s3, bucket, "docs/a.txt", LONG)
    assert s3.head_object(Bucket=bucket, Key="docs/a.txt")["LastModified"] > before

    code, stdout, stderr = run_cli(s3_endpoint, url, out, chroma, tmp_path / "dl")
    assert code == 0 and "0 processed, 1 skipped" in stdout, stderr
    assert_same_as_clean_run(s3_endpoint, url, tmp_path, out, chroma, "touched")


@pytest.mark.slow
def test_random_changes_and_killed_runs_end_equal_to_a_clean_run(s3, s3_endpoint, tmp_path):
    """A seeded differential test: random puts, overwrites and deletes interleaved with runs, most killed with
    SIGKILL at a random moment (a run with work takes about 8 s here); after each sequence one more run must leave
    exactly what a clean run leaves. INGEST_DIFFERENTIAL_SEQUENCES / _STEPS make it longer by hand."""
    rng = random.Random(20261126)
    sequences = int(os.environ.get("INGEST_DIFFERENTIAL_SEQUENCES", "3"))
    for sequence in range(sequences):
        bucket = f"diff-{sequence}-{rng.randrange(10**6)}"
        s3.create_bucket(Bucket=bucket)
        url = f"s3://{bucket}/"
        out, chroma = tmp_path / f"out-{sequence}", tmp_path / f"chroma-{sequence}"
        bodies: dict[str, str] = {}
        for _ in range(int(os.environ.get("INGEST_DIFFERENTIAL_STEPS", "1"))):
            for _ in range(rng.randint(1, 4)):
                operation = rng.choice(["put", "put", "overwrite", "delete", "touch"])
                if operation == "delete" and bodies:
                    key = rng.choice(sorted(bodies))
                    s3.delete_object(Bucket=bucket, Key=key)
                    del bodies[key]
                elif operation == "touch" and bodies:  # the same bytes again: a new LastModified, the same ETag
                    key = rng.choice(sorted(bodies))
                    put_text(s3, bucket, key, bodies[key])
                else:
                    key = (
                        rng.choice(sorted(bodies))
                        if operation == "overwrite" and bodies
                        else f"k{rng.randrange(6)}.txt"
                    )
                    bodies[key] = LONG[: rng.randrange(40, len(LONG))] + f" version {rng.random()}"
                    put_text(s3, bucket, key, bodies[key])
            killed = rng.random() < 0.7
            code, _, stderr = run_cli(
                s3_endpoint, url, out, chroma, tmp_path / "dl", kill_in=rng.uniform(1.0, 9.0) if killed else None
            )
            assert code in (0, -signal.SIGKILL), stderr
        code, _, stderr = run_cli(s3_endpoint, url, out, chroma, tmp_path / "dl")
        assert code == 0, stderr
        assert_same_as_clean_run(s3_endpoint, url, tmp_path, out, chroma, str(sequence))


def test_an_unchanged_document_is_skipped_on_the_outputs_listing_without_reading_them(s3, bucket, ingest, tmp_path):
    for name in ("a", "b"):
        put_text(s3, bucket, f"{name}.txt", f"Document {name}.")
    args = ("--s3-url", f"s3://{bucket}/", "--chunking", "by_title")
    assert ingest(*args).exit_code == 0  # the identities of the outputs written (size, time) are remembered
    output = tmp_path / "out" / "a.txt.json"
    before = output.stat()
    output.write_bytes(b"x" * before.st_size)  # not an output any more, but listed as the same size and time
    os.utime(output, ns=(before.st_atime_ns, before.st_mtime_ns))

    assert "0 processed, 2 skipped" in summary(ingest(*args))  # so it was not read

    os.utime(output)  # touched: the listing disagrees with the ledger, the output is read and found broken
    result = ingest(*args, "--dry-run")
    assert "process  a.txt  (output unreadable)" in result.stdout and "skip     b.txt  (unchanged)" in result.stdout
    assert "1 processed, 1 skipped" in summary(ingest(*args))
    assert json.loads(output.read_bytes())[0]["text"] == "Document a."

    for path in (tmp_path / "out" / ".ingest").glob("state.db*"):
        path.unlink()  # a lost ledger: rebuilt from the outputs once, then trusted again
    assert "0 processed, 2 skipped" in summary(ingest(*args))
    before = output.stat()
    output.write_bytes(b"x" * before.st_size)
    os.utime(output, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert "0 processed, 2 skipped" in summary(ingest(*args))


def test_a_no_op_run_with_s3_outputs_reads_none_of_them(s3, bucket, ingest, tmp_path, recorder, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # where the ledger of S3 outputs lives
    for name in ("a", "b", "c"):
        put_text(s3, bucket, f"docs/{name}.txt", f"Document {name}.")
    target = f"out-{bucket}"
    s3.create_bucket(Bucket=target)
    args = ("--s3-url", f"s3://{bucket}/docs/")
    assert ingest(*args, out=f"s3://{target}/out/").exit_code == 0  # the ETags of its PUTs remembered

    recorder.start()
    result = ingest(*args, out=f"s3://{target}/out/")
    requests = recorder.stop()
    assert "0 processed, 3 skipped" in summary(result), result.output
    reads = [
        (entry["method"], entry["url"])
        for entry in requests
        if f"/{target}/" in entry["url"]
        and "list-type" not in entry["url"]
        and not entry["url"].rstrip("/").endswith(target)
    ]
    assert reads == []  # one listing of the prefix, no GET or HEAD of an output
    assert any("list-type" in entry["url"] and f"/{target}" in entry["url"] for entry in requests)
