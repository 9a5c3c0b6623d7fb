"""`--structured-output-dir s3://bucket/prefix/`: the outputs of a local-folder run, as objects of a real S3 server,
kept in step with the source on every run."""

from __future__ import annotations

import uuid
from urllib.parse import unquote

from click.testing import CliRunner

from conftest import EXAMPLES, main_command, output_state, summary, upload_folder


def objects(s3, bucket: str, prefix: str) -> dict[str, bytes]:
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", ()):
            found[obj["Key"][len(prefix) :]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return found


def test_s3_outputs_match_a_local_folder_and_stay_in_step(s3, bucket, ingest, tmp_path, recorder, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # where the ledger of S3 outputs lives
    upload_folder(s3, bucket, EXAMPLES, "docs/")
    target = f"test-out-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=target)
    args = ("--s3-url", f"s3://{bucket}/docs/", "--strategy", "fast", "--split-pages", "1")

    to_s3 = ingest(*args, vectors=True, out=f"s3://{target}/outputs")
    to_folder = ingest(*args, "--chroma-path", str(tmp_path / "chroma-local"), vectors=True, out=tmp_path / "local")

    assert to_s3.exit_code == to_folder.exit_code == 1, to_s3.output  # the scan is empty under `fast`, both ways
    assert summary(to_s3).split(" in ")[0] == summary(to_folder).split(" in ")[0]
    assert objects(s3, target, "outputs/") == output_state(tmp_path / "local")  # byte for byte, nothing else
    assert f"outputs in s3://{target}/outputs/" in to_s3.output
    status = CliRunner().invoke(main_command(), ["status", "--structured-output-dir", f"s3://{target}/outputs/"])
    assert status.exit_code == 0 and "documents: 7 done, 1 failed" in status.output, status.output
    assert list((tmp_path / "cache" / "ingest" / "state").glob("*/state.db"))

    recorder.start()
    again = ingest(*args, "--max-attempts", "1", vectors=True, out=f"s3://{target}/outputs")
    assert again.exit_code == 1 and "0 processed, 7 skipped" in summary(again), again.output
    assert recorder.object_gets(bucket) == []  # nothing downloaded from the source

    s3.delete_object(Bucket=bucket, Key="docs/fake.docx")
    third = ingest(*args, "--max-attempts", "1", vectors=True, out=f"s3://{target}/outputs")
    assert "1 deleted" in summary(third), third.output
    assert not [key for key in objects(s3, target, "outputs/") if "fake.docx" in key]


def test_an_output_bucket_that_does_not_exist_is_refused_at_start(s3, bucket, ingest, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    upload_folder(s3, bucket, EXAMPLES / "reports", "docs/")
    result = ingest("--s3-url", f"s3://{bucket}/docs/", out="s3://no-such-output-bucket/x/")
    assert result.exit_code == 2, result.output
    assert "--structured-output-dir s3://no-such-output-bucket/x/" in result.output and "NoSuchBucket" in result.output


def test_writing_lists_the_outputs_once_not_per_document_and_still_clears_stale_figures(
    s3, bucket, ingest, tmp_path, recorder, monkeypatch
):
    """A document's figures folder is cleared only where the run's one listing of the outputs shows files in it:
    otherwise every document written cost a listing of its own (an S3 LIST per document; and moto, which filters a
    prefix by walking the whole bucket, slowed as the outputs grew)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for n in range(12):
        body = f"Harbour note {n}: berth {n} is free.".encode()
        s3.put_object(Bucket=bucket, Key=f"docs/note-{n:02d}.txt", Body=body)
    target = f"test-out-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=target)
    stale = "outputs/note-03.txt.figures/figure-1-1.jpg"  # left by an earlier run with --extract-images files
    s3.put_object(Bucket=target, Key=stale, Body=b"\xff\xd8 an old crop")

    recorder.start()
    result = ingest("--s3-url", f"s3://{bucket}/docs/", out=f"s3://{target}/outputs")
    requests_made = [e["url"] for e in recorder.stop() if f"/{target}?list-type" in e["url"]]
    listed = [unquote(url.split("prefix=")[1].split("&")[0]) for url in requests_made]

    assert result.exit_code == 0 and "12 processed" in summary(result), result.output
    assert [prefix for prefix in listed if ".figures" in prefix] == ["outputs/note-03.txt.figures/"]
    assert len(listed) == 5, listed  # also: the check at start, the outputs, the parts folder before and after
    keys = set(objects(s3, target, "outputs/"))
    assert stale.removeprefix("outputs/") not in keys
    assert {f"note-{n:02d}.txt.json" for n in range(12)} <= keys
