"""`--structured-output-dir s3://bucket/prefix/`: the outputs of a local-folder run, as objects of a real S3 server,
kept in step with the source on every run."""

from __future__ import annotations

import uuid

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
