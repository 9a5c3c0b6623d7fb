"""The run cron pays for most often: a no-op rerun over many documents, and the first run's per-document cost.

    python benchmarks/scale_bench.py                      # 1,000 and 10,000 small documents (about 15 minutes)
    python benchmarks/scale_bench.py --sizes 100 --repeat 1   # a smoke run
    python benchmarks/scale_bench.py --sizes 100000 --outputs s3   # S3 outputs only (about an hour)

For each size, a bucket of small text, Markdown and HTML objects in a moto S3 server, and for each kind of outputs
(a local folder, an S3 prefix of the same server): the first run (documents/s, `--no-vectors`: embedding is the
embedding benchmark's), then no-op reruns with nothing changed: wall time (the whole command), the output files
opened for reading (a Python audit hook in the driver, for a local folder) or the output GETs and HEADs (moto's
request recorder, for S3) and the bytes they hold, and the driver's peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from partition_bench import BIN, ENV, spread, watch  # noqa: E402

from conftest import Recorder, start_moto  # noqa: E402  (partition_bench put the tests on the path)

AUDIT = """
import atexit, os, sys
_out, _opened = os.environ["INGEST_BENCH_OUTPUTS"], {}
def _hook(event, args):
    if event == "open" and isinstance(args[0], (str, os.PathLike)):
        path = os.fspath(args[0])
        if path.startswith(_out) and "/.ingest/" not in path and "r" in (args[1] or "r"):
            if not (args[2] or 0) & (os.O_WRONLY | os.O_RDWR):
                _opened[path] = 1
def _report():
    if os.getpid() == _driver:
        sizes = [os.path.getsize(p) for p in _opened if os.path.exists(p)]
        with open(os.environ["INGEST_BENCH_REPORT"], "w") as f:
            f.write(f"{len(sizes)} {sum(sizes)}")
_driver = os.getpid()
if _out:
    sys.addaudithook(_hook)
    atexit.register(_report)
"""
BODIES = {
    ".txt": "Report {n}. The harbour office logged {n} arrivals and {m} departures this week.\n",
    ".md": "# Note {n}\n\nThe committee met on day {m} and agreed item {n} of the agenda.\n",
    ".html": "<html><body><h1>Page {n}</h1><p>Inventory line {m}: {n} crates checked.</p></body></html>",
}


def fill(s3, bucket: str, count: int) -> None:
    s3.create_bucket(Bucket=bucket)
    kinds = sorted(BODIES)

    def put(n: int) -> None:
        suffix = kinds[n % len(kinds)]
        body = BODIES[suffix].format(n=n, m=n * 7 % 1000)
        s3.put_object(Bucket=bucket, Key=f"docs/{n // 1000:03d}/doc-{n:06d}{suffix}", Body=body.encode())

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(count)))


def sizes(s3, size: int, requests_made: list[dict]) -> list[int]:
    """The sizes of the S3 outputs these requests fetched (a HEAD reads none)."""
    listed = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="outputs", Prefix=f"{size}/"):
        listed.update({obj["Key"]: obj["Size"] for obj in page.get("Contents", ())})
    keys = [e["url"].split("/outputs/", 1)[1].split("?")[0] for e in requests_made if e["method"] == "GET"]
    return [listed.get(unquote(key), 0) for key in keys]


def listing(s3, bucket: str, prefix: str) -> float:
    """Seconds to list a prefix page by page with boto3 alone: what the S3 server costs a run that lists it."""
    started = time.perf_counter()
    for _ in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        pass
    return time.perf_counter() - started


def run(source: list[str], out: str, tmp: Path, processes: int) -> tuple[dict, float, float, tuple[int, int]]:
    """One `ingest` run: its summary, wall s, the driver tree's peak RSS (MB), and (files, bytes) of local outputs
    it opened for reading."""
    report_file, summary = tmp / "opened.txt", tmp / "summary.json"
    report_file.unlink(missing_ok=True)
    local = not out.startswith("s3://")
    ENV.update(
        PYTHONPATH=str(tmp / "audit"),
        INGEST_BENCH_OUTPUTS=str(Path(out).absolute()) + "/" if local else "",
        INGEST_BENCH_REPORT=str(report_file),
    )
    args = [*source, "--structured-output-dir", out, "--summary-json", str(summary)]
    done, wall, tree, _ = watch(
        [str(BIN / "ingest"), *args, "--no-vectors", "--num-processes", str(processes), "--max-attempts", "1"]
    )
    if done.returncode != 0:
        raise SystemExit(f"ingest failed ({done.returncode}): {done.stderr[-2000:]}")
    opened = tuple(int(v) for v in report_file.read_text().split()) if local else (0, 0)
    return json.loads(summary.read_text()), wall, tree, opened


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated numbers of documents")
    parser.add_argument("--repeat", type=int, default=2, help="no-op reruns per size and kind of outputs")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--outputs", default="local,s3", help="kinds of outputs to measure: local, s3 or both")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        (tmp / "audit").mkdir()
        (tmp / "audit" / "sitecustomize.py").write_text(AUDIT)
        moto, endpoint = start_moto(tmp)
        try:
            ENV.update(
                AWS_ACCESS_KEY_ID="bench",
                AWS_SECRET_ACCESS_KEY="bench",
                AWS_DEFAULT_REGION="us-east-1",
                XDG_CACHE_HOME=str(tmp / "cache"),
            )
            s3 = boto3.client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id="bench",
                aws_secret_access_key="bench",
                region_name="us-east-1",
            )
            s3.create_bucket(Bucket="outputs")
            recorder = Recorder(endpoint)
            print(f"{args.processes} processes, --no-vectors, {os.cpu_count()} CPUs; no-op reruns: {args.repeat}\n")
            print(
                "| documents | outputs | first run s | first run docs/s | first run peak RSS MB "
                "| no-op rerun s (min-max) | output files read | output bytes read | output requests "
                "| no-op peak RSS MB (max) | listings alone s |"
            )
            print("|---|---|---|---|---|---|---|---|---|---|---|")
            for size in (int(value) for value in args.sizes.split(",")):
                bucket = f"scale-{size}"
                fill(s3, bucket, size)
                source = ["--s3-url", f"s3://{bucket}/docs/", "--endpoint-url", endpoint]
                outputs = {"local": str(tmp / f"out-{size}"), "s3": f"s3://outputs/{size}/"}
                for kind, out in ((kind, outputs[kind]) for kind in args.outputs.split(",")):
                    first, wall, rss, _ = run(source, out, tmp, args.processes)
                    assert first["processed"] + len(first["empty"]) == size, first
                    walls, rsses, files, read, calls = [], [], [], [], []
                    for _ in range(args.repeat):
                        recorder.start()
                        again, rerun_wall, rerun_rss, opened = run(source, out, tmp, args.processes)
                        entries = recorder.stop()
                        assert again["processed"] == 0 and again["skipped"] == size, again
                        touched = [
                            e
                            for e in entries
                            if e["method"] in ("GET", "HEAD")
                            and f"/outputs/{size}/" in e["url"]
                            and "list-type" not in e["url"]
                        ]
                        walls.append(rerun_wall)
                        rsses.append(rerun_rss)
                        files.append(opened[0] if kind == "local" else len(touched))
                        read.append(opened[1] if kind == "local" else sum(sizes(s3, size, touched)))
                        calls.append(sum(1 for e in entries if "/outputs" in e["url"]) if kind == "s3" else 0)
                    listed = listing(s3, bucket, "docs/") + (listing(s3, "outputs", f"{size}/") if kind == "s3" else 0)
                    print(
                        f"| {size:,} | {kind} | {wall:.1f} | {size / wall:.0f} | {rss:.0f} | {spread(walls)} "
                        f"| {' / '.join(map(str, files))} | {' / '.join(map(str, read))} "
                        f"| {' / '.join(map(str, calls)) if kind == 's3' else 'n/a'} | {max(rsses):.0f} "
                        f"| {listed:.1f} |"
                    )
        finally:
            moto.kill()  # its buckets are thrown away; at 100,000 documents (1.6 GB) it takes over 10 s to stop
            moto.wait()
    print(
        "\nno-op reruns listed in order ( / ). Output requests: every request to the output prefix (listings"
        "\nincluded); output files read: GETs and HEADs of an output for S3. Listings alone: the source prefix"
        "\n(and the output prefix, for S3) listed by boto3 alone, page by page: the S3 server's share of a rerun."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
