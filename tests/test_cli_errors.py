"""Bad usage and configuration: exit code 2 and one exact line, before any work; never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from conftest import FAKE_KEYS, free_port, start_moto


def error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    return lines[-1]


def test_no_source_or_two_sources(ingest, tmp_path):
    for args in ((), ("--s3-url", "s3://bucket/x/", "--local-path", str(tmp_path))):
        result = ingest(*args, endpoint=False)
        assert result.exit_code == 2
        assert error_line(result) == "Error: give exactly one source: --s3-url or --local-path"


@pytest.mark.parametrize(
    "url, problem",
    [
        ("http://bucket/docs/", "is not an S3 URL: expected s3://bucket/prefix/ or s3://bucket/key"),
        ("s3:/bucket/docs/", "is not an S3 URL: expected s3://bucket/prefix/ or s3://bucket/key"),
        ("s3://", "has no valid bucket name: expected s3://bucket/prefix/"),
        ("s3://Bad_Bucket!/x", "has no valid bucket name: expected s3://bucket/prefix/"),
    ],
)
def test_malformed_url(ingest, url, problem):
    result = ingest("--s3-url", url)
    assert result.exit_code == 2
    assert error_line(result) == f"Error: Invalid value for '--s3-url' (env var: 'INGEST_S3_URL'): {url!r} {problem}"


def test_missing_bucket(ingest):
    result = ingest("--s3-url", "s3://no-such-bucket-here/docs/")
    assert result.exit_code == 2
    assert error_line(result) == (
        "Error: Bucket 'no-such-bucket-here' does not exist "
        "(s3://no-such-bucket-here/docs/): check the bucket name and --endpoint-url"
    )


def test_no_credentials(ingest, bucket, monkeypatch):
    for name in FAKE_KEYS:
        if name != "AWS_DEFAULT_REGION":
            monkeypatch.delenv(name)
    result = ingest("--s3-url", f"s3://{bucket}/")
    assert result.exit_code == 2
    assert error_line(result) == (
        f"Error: No AWS credentials found for s3://{bucket}/: set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or pass --anonymous for a public bucket"
    )


def test_unreachable_endpoint(ingest):
    endpoint = f"http://127.0.0.1:{free_port()}"
    result = ingest("--s3-url", "s3://bucket/docs/", "--endpoint-url", endpoint, "--retries", "1")
    assert result.exit_code == 2
    assert error_line(result) == (
        f"Error: Cannot reach {endpoint} to list s3://bucket/docs/: check --endpoint-url and the network"
    )


def test_missing_local_folder(ingest, tmp_path):
    result = ingest("--local-path", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert error_line(result) == f"Error: --local-path {tmp_path / 'nope'}: no such file or folder"


@pytest.fixture(scope="module")
def auth_s3(tmp_path_factory):
    """A second moto server that enforces IAM: a user with no policy may not list, a made-up key is rejected."""
    process, url = start_moto(tmp_path_factory.mktemp("moto-auth"), INITIAL_NO_AUTH_ACTION_COUNT="3")
    iam = boto3.client("iam", endpoint_url=url)
    iam.create_user(UserName="nobody")
    key = iam.create_access_key(UserName="nobody")["AccessKey"]
    boto3.client("s3", endpoint_url=url).create_bucket(Bucket="locked")
    yield url, key
    process.terminate()
    process.wait(10)


def test_access_denied(ingest, auth_s3, monkeypatch):
    url, key = auth_s3
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    result = ingest("--s3-url", "s3://locked/docs/", "--endpoint-url", url)
    assert result.exit_code == 2
    assert error_line(result) == (
        "Error: Access denied listing s3://locked/docs/: the credentials in use need "
        "s3:ListBucket and s3:GetObject on it (or pass --anonymous for a public bucket)"
    )


def test_rejected_credentials(ingest, auth_s3):
    url, _ = auth_s3
    result = ingest("--s3-url", "s3://locked/docs/", "--endpoint-url", url)
    assert result.exit_code == 2
    assert error_line(result) == (
        "Error: The AWS credentials were rejected by S3 (InvalidAccessKeyId) listing "
        "s3://locked/docs/: check AWS_ACCESS_KEY_ID / AWS_PROFILE"
    )


def test_missing_tesseract_is_refused_unless_strategy_fast(ingest, s3, bucket, monkeypatch, tmp_path):
    s3.put_object(Bucket=bucket, Key="note.txt", Body=b"A note that needs no OCR.")
    bin_without_tesseract = tmp_path / "bin"
    bin_without_tesseract.mkdir()
    monkeypatch.setenv("PATH", str(bin_without_tesseract))
    result = ingest("--s3-url", f"s3://{bucket}/")
    assert result.exit_code == 2
    assert error_line(result) == (
        "Error: tesseract is not installed; --strategy auto needs it to read scanned pages. Install it "
        "(apt-get install tesseract-ocr tesseract-ocr-eng), or choose --strategy fast for PDFs that have a text layer"
    )
    assert ingest("--s3-url", f"s3://{bucket}/", "--strategy", "fast").exit_code == 0


def test_missing_ocr_language(ingest, s3, bucket):
    s3.put_object(Bucket=bucket, Key="note.txt", Body=b"A note.")
    result = ingest("--s3-url", f"s3://{bucket}/", "--languages", "eng,xyz")
    assert result.exit_code == 2
    assert error_line(result) == (
        "Error: tesseract has no data for --languages xyz; install it (apt-get install "
        "tesseract-ocr-xyz), or choose --strategy fast for PDFs that have a text layer"
    )


def run_console_script(*args: str, **env: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "ingest"
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=300, env={**os.environ, **env})


def test_console_script_reports_a_config_error_in_one_line(s3_endpoint, tmp_path):
    result = run_console_script(
        "--s3-url",
        "s3://absent-bucket/x/",
        "--endpoint-url",
        s3_endpoint,
        "--structured-output-dir",
        str(tmp_path / "out"),
    )
    assert result.returncode == 2
    assert result.stderr == (
        "Error: Bucket 'absent-bucket' does not exist (s3://absent-bucket/x/): check the bucket "
        "name and --endpoint-url\n"
    )
    assert not list((tmp_path / "out").rglob("*.json"))


def test_a_broken_spacy_model_is_refused_at_start(tmp_path):
    """unstructured would return no elements for every document; the tool must refuse instead."""
    shadow = tmp_path / "site"
    (shadow / "en_core_web_sm").mkdir(parents=True)
    (shadow / "en_core_web_sm" / "__init__.py").write_text(
        "def load(**overrides):\n    raise OSError('[E050] Can\\'t find model data')\n"
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "note.txt").write_text("A note with a sentence in it.")

    result = run_console_script(
        "--local-path",
        str(docs),
        "--structured-output-dir",
        str(tmp_path / "out"),
        "--chroma-path",
        str(tmp_path / "chroma"),
        PYTHONPATH=str(shadow),
    )

    assert result.returncode == 2
    assert result.stderr == (
        "Error: The spaCy model en_core_web_sm failed to load (OSError: [E050] Can't find model "
        "data); reinstall it: pip install --force-reinstall ./packaging/en_core_web_sm\n"
    )
