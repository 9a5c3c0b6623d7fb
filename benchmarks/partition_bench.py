"""Partition throughput: `ingest` with 1 and 2 processes against raw `partition_pdf` calls in one process.

    python benchmarks/partition_bench.py                  # the whole ../shared/corpus/pdf (several minutes)
    python benchmarks/partition_bench.py --limit 3        # a smoke run

Prints docs/s, pages/s, peak RSS (whole process tree) and the pipeline's overhead over the raw calls, all from
one run so the ratios compare like with like on a noisy machine. Both sides use the same strategy (default
`fast`) and read local files, so the numbers measure partitioning and the pipeline around it, not the network.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pypdfium2

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

RAW = """
import json, sys, time, resource
from unstructured.partition.pdf import partition_pdf
from unstructured.nlp.tokenize import _get_nlp
_get_nlp()
files, strategy = json.loads(sys.argv[1]), sys.argv[2]
started, failed = time.monotonic(), 0
for name in files:
    try:
        if not partition_pdf(filename=name, strategy=strategy, languages=["eng"]):
            failed += 1
    except Exception:
        failed += 1
print(json.dumps({"seconds": time.monotonic() - started, "failed": failed}))
"""


def pages_of(path: Path) -> int:
    try:
        with_pdf = pypdfium2.PdfDocument(str(path))
    except Exception:  # noqa: BLE001 - a file pdfium cannot open counts no pages
        return 0
    try:
        return len(with_pdf)
    finally:
        with_pdf.close()


def watch(command: list[str], **kwargs) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``command``; return it, its wall time and the peak RSS (MB) summed over its process tree."""
    started = time.monotonic()
    process = psutil.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    peak = 0
    while process.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.1)
    stdout, stderr = process.communicate()
    wall = time.monotonic() - started
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr), wall, peak / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "pdf")
    parser.add_argument("--limit", type=int, default=0, help="only the first N files (smallest first)")
    parser.add_argument("--strategy", default="fast")
    parser.add_argument("--processes", default="1,2", help="comma-separated pool sizes for ingest")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"no corpus at {args.corpus}", file=sys.stderr)
        return 2
    files = sorted(args.corpus.glob("*.pdf"), key=lambda p: p.stat().st_size)
    files = files[: args.limit] if args.limit else files
    pages = sum(pages_of(p) for p in files)
    env = {**os.environ, "DO_NOT_TRACK": "true", "HF_HUB_OFFLINE": "1"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp, "corpus")
        corpus.mkdir()
        for path in files:
            os.symlink(path, corpus / path.name)
        done, wall, peak = watch([sys.executable, "-c", RAW, json.dumps([str(p) for p in files]), args.strategy],
                                 env=env)
        raw = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(("raw partition_pdf, 1 process", raw["seconds"], wall, peak, raw["failed"]))
        for n in (int(x) for x in args.processes.split(",")):
            out = Path(tmp, f"out-{n}")
            summary = Path(tmp, f"summary-{n}.json")
            done, wall, peak = watch([str(BIN / "ingest"), "--local-path", str(corpus), "--strategy", args.strategy,
                                      "--num-processes", str(n), "--structured-output-dir", str(out), "--no-vectors",
                                      "--chunking", "none",
                                      "--summary-json", str(summary)], env=env)
            if done.returncode not in (0, 1):
                print(done.stderr, file=sys.stderr)
                return 1
            report = json.loads(summary.read_text())
            rows.append((f"ingest --num-processes {n}", report["seconds"], wall, peak, report["failed"]))
    raw_wall = rows[0][2]
    print(f"{len(files)} PDFs, {pages} pages (pdfium), strategy {args.strategy}, {os.cpu_count()} CPUs\n")
    print(f"| run | work s | wall s | docs/s | pages/s | peak RSS MB | failed | vs raw |")
    print("|---|---|---|---|---|---|---|---|")
    for name, seconds, wall, peak, failed in rows:
        print(f"| {name} | {seconds:.1f} | {wall:.1f} | {len(files) / wall:.2f} | {pages / wall:.2f} | "
              f"{peak:.0f} | {failed} | {raw_wall / wall:.2f}x |")
    print("\nwork s: ingest, from listing to last result (model loading included); raw, the partition loop;"
          "\nwall s: the whole command, start-up and imports included; docs/s, pages/s and vs raw (raw wall s / this"
          "\nwall s) are computed from it.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
