"""Known fake credentials go in; every byte the run wrote or printed is searched for them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import EXAMPLES, FIXTURES, upload_folder
from faults import FaultProxy

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIAINGESTSECRETID77",
    "AWS_SECRET_ACCESS_KEY": "ingest/Secret+Access/Key0123456789abcd",
    "AWS_SESSION_TOKEN": "IngestSessionTokenSecret0123456789abcdefXYZ",
}
URL_PASSWORD = "UrlPassw0rdSecret"


def test_no_credential_reaches_logs_messages_state_or_outputs(s3, bucket, s3_endpoint, tmp_path):
    upload_folder(s3, bucket, EXAMPLES / "mail", "in/")
    s3.upload_file(str(FIXTURES / "corrupt.pdf"), bucket, "in/corrupt.pdf")
    s3.put_object(Bucket=bucket, Key="in/note.txt", Body=b"A note.")
    ingest = str(Path(sys.executable).parent / "ingest")
    env = {**os.environ, **CREDENTIALS}
    with FaultProxy(s3_endpoint, down_for=(b"/note.txt ",)) as proxy:  # a fetch error quotes the endpoint URL
        endpoint = proxy.url.replace("://", f"://ingest-user:{URL_PASSWORD}@")
        run = subprocess.run(
            [
                ingest,
                "--s3-url",
                f"s3://{bucket}/in/",
                "--endpoint-url",
                endpoint,
                "-vv",
                "--retries",
                "1",
                "--structured-output-dir",
                str(tmp_path / "out"),
                "--download-dir",
                str(tmp_path / "dl"),
                "--chroma-path",
                str(tmp_path / "chroma"),
                "--summary-json",
                str(tmp_path / "summary.json"),
                "--preserve-downloads",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    status = subprocess.run(
        [ingest, "status", "--json", "--structured-output-dir", str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.returncode == 1, run.stderr[-3000:]
    assert "FAILED in/note.txt [fetch]" in run.stderr and "FAILED in/corrupt.pdf [partition]" in run.stderr
    assert "botocore" in run.stderr and "Credential=***" in run.stderr  # the debug logs were there, masked
    written = {str(p): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert any(name.endswith("state.db") for name in written) and any("chroma" in name for name in written)
    printed = {"stdout": run.stdout, "stderr": run.stderr, "status": status.stdout + status.stderr}
    for secret in [*CREDENTIALS.values(), URL_PASSWORD]:
        assert [name for name, text in printed.items() if secret in text] == []
        assert [name for name, data in written.items() if secret.encode() in data] == []
