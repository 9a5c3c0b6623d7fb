"""The demo behind `make demo`: a local S3 server holding examples/documents, ingested twice, then queried.

The first run partitions every document with a pool of 2 processes, chunks it, embeds the chunks and stores them
in a Chroma collection; the second finds nothing changed and skips them all without downloading anything; a query
then finds a passage. The server is moto in server mode on 127.0.0.1 and stops at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ROOT / "examples" / "documents"
OUTPUTS = ROOT / "structured-outputs" / "demo"
CHROMA = ROOT / ".demo" / "chroma"
BIN = Path(sys.executable).parent
BUCKET = "demo-bucket"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_s3(env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            return server, url
        except OSError:
            time.sleep(0.2)
    server.kill()
    sys.exit("the local S3 server did not start")


def main() -> int:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    server, endpoint = start_s3(env)
    try:
        import boto3

        s3 = boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id="demo", aws_secret_access_key="demo", region_name="us-east-1"
        )
        s3.create_bucket(Bucket=BUCKET)
        for path in sorted(p for p in DOCUMENTS.rglob("*") if p.is_file()):
            s3.upload_file(str(path), BUCKET, "documents/" + path.relative_to(DOCUMENTS).as_posix())
        print(f"local S3 server at {endpoint}: s3://{BUCKET}/documents/ holds the files of examples/documents/")
        shutil.rmtree(OUTPUTS, ignore_errors=True)
        shutil.rmtree(CHROMA, ignore_errors=True)
        command = [
            str(BIN / "ingest"),
            "--s3-url",
            f"s3://{BUCKET}/documents/",
            "--endpoint-url",
            endpoint,
            "--num-processes",
            "2",
            "--structured-output-dir",
            str(OUTPUTS.relative_to(ROOT)),
            "--download-dir",
            ".demo/downloads",
            "--chroma-path",
            str(CHROMA.relative_to(ROOT)),
        ]
        for label in ("first run: every document is partitioned", "second run: nothing changed, all skipped"):
            print(f"\n$ {' '.join(command)}    # {label}", flush=True)
            code = subprocess.run(command, env=env, cwd=ROOT).returncode
            if code:
                return code
        print(f"\nelement JSON in {OUTPUTS.relative_to(ROOT)}/:")
        for path in sorted(OUTPUTS.rglob("*.json")):
            elements = json.loads(path.read_text())
            print(f"  {path.relative_to(OUTPUTS)}: {len(elements)} elements, first: {elements[0]['text'][:60]!r}")
        query = [
            str(BIN / "ingest"),
            "query",
            "How many bottles of water were delivered?",
            "--k",
            "3",
            "--chroma-path",
            str(CHROMA.relative_to(ROOT)),
        ]
        print(f"\n$ {' '.join(query)}", flush=True)
        return subprocess.run(query, env=env, cwd=ROOT).returncode
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    sys.exit(main())
