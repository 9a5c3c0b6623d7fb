"""Throughput of `ingest` against the floor: raw `partition_pdf` calls in one process, no pipeline.

    python benchmarks/partition_bench.py                  # the whole ../shared/corpus/pdf (about half an hour)
    python benchmarks/partition_bench.py --limit 3        # a smoke run on the 3 smallest PDFs
    python benchmarks/partition_bench.py --sections split,noop

Sections (all by default), each printed as a table; every figure comes from this one run, so ratios compare like
with like on a noisy machine, and repeated runs show their min-max:

- floor: raw `partition_pdf(strategy=...)` over the files, one process, models loaded before the clock starts
  (with `--floor-gc frozen`, and then frozen out of the garbage collector's sight, as `ingest`'s workers have them).
- pool: `ingest --local-path` with 1 and 2 processes, partition only (`--no-vectors --chunking none`) and the full
  pipeline (chunking, embedding, Chroma); efficiency = pages/s / (processes x floor pages/s).
- startup: how long forking the pool from a driver that has loaded unstructured takes, and a first task's round trip.
- split: the largest PDF alone with 2 processes, split (`--split-pages`, default 50) and unsplit, with the outputs
  compared byte for byte, and the peak resident memory of one worker.
- noop: the corpus in a moto S3 server, processed once, then rerun with nothing changed: wall time and the objects
  the rerun downloaded (from moto's request recorder).
- celery: partition only with 2 processes, the local pool against `--executor celery` with one `ingest worker
  --concurrency 2` on a redis-server (both on this machine), alternating, with the outputs compared.
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

import boto3
import psutil
import pypdfium2
import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import RedisServer, Worker, start_moto  # noqa: E402

POLL = 0.5  # seconds between looks at a command's memory: each costs ~2 ms of CPU, taken from the pool's workers
ENV = {
    **os.environ,
    "DO_NOT_TRACK": "true",
    "HF_HUB_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
}

RAW = """
import gc, json, sys, time
from unstructured.partition.pdf import partition_pdf
from unstructured.nlp.tokenize import _get_nlp
_get_nlp()
files, strategy, frozen = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3] == "frozen"
if frozen:
    gc.freeze()
started, failed = time.monotonic(), 0
for name in files:
    try:
        if not partition_pdf(filename=name, strategy=strategy, languages=["eng"]):
            failed += 1
    except Exception:
        failed += 1
print(json.dumps({"seconds": time.monotonic() - started, "failed": failed}))
"""

STARTUP = """
import json, sys, time, threading
sys.path.insert(0, sys.argv[1])
from ingest.config import Limits, PartitionConfig
from ingest.partition import check_prerequisites
from ingest.pools.local import WorkerPool
from ingest.models import DocumentRef, DocumentResult, Task
check_prerequisites(PartitionConfig(strategy="fast"))
done = threading.Event()
def echo(task, cfg, on_stage):
    return DocumentResult(task.ref, "processed")
started = time.monotonic()
pool = WorkerPool(int(sys.argv[2]), Limits(), echo, lambda task, result: done.set())
forked = time.monotonic()
pool.submit(Task(DocumentRef("x", "x", "x", "", 0, "")), None)
done.wait()
answered = time.monotonic()
pool.close()
print(json.dumps({"fork_ms": (forked - started) * 1000, "first_task_ms": (answered - forked) * 1000}))
"""


def pages_of(path: Path) -> int:
    try:
        pdf = pypdfium2.PdfDocument(str(path))
    except Exception:  # noqa: BLE001 - a file pdfium cannot open counts no pages
        return 0
    try:
        return len(pdf)
    finally:
        pdf.close()


def watch(command: list[str]) -> tuple[subprocess.CompletedProcess, float, float, float]:
    """Run ``command``; return it, its wall time, the peak RSS (MB) summed over its process tree, and the peak RSS
    of its largest single worker (a forked child, not the spawned index writer)."""
    started = time.monotonic()
    process = psutil.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    tree_peak = worker_peak = 0
    while process.poll() is None:
        try:
            children = process.children(recursive=True)
            tree = sum(p.memory_info().rss for p in (process, *children))
            workers = [p.memory_info().rss for p in children if "spawn_main" not in " ".join(p.cmdline())]
            tree_peak, worker_peak = max(tree_peak, tree), max(worker_peak, *workers, 0)
        except psutil.Error:
            pass
        time.sleep(POLL)
    stdout, stderr = process.communicate()
    wall = time.monotonic() - started
    return (
        subprocess.CompletedProcess(command, process.returncode, stdout, stderr),
        wall,
        tree_peak / 2**20,
        worker_peak / 2**20,
    )


def ingest(source: list[str], out: Path, *args: str) -> tuple[dict, float, float, float]:
    summary = out.with_suffix(".summary.json")
    done, wall, tree, worker = watch(
        [str(BIN / "ingest"), *source, "--structured-output-dir", str(out), "--summary-json", str(summary), *args]
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"ingest failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(summary.read_text()), wall, tree, worker


def outputs(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".ingest" not in p.parts
    }


def spread(values: list[float], digits: int = 1) -> str:
    low, high = f"{min(values):.{digits}f}", f"{max(values):.{digits}f}"
    return low if low == high else f"{low}-{high}"


def spread_mean(values: list[float]) -> str:
    return spread(values, 2) + (f" (mean {sum(values) / len(values):.2f})" if len(values) > 1 else "")


def floor_and_pool(files, pages, corpus, tmp, args, sections) -> float:
    """``--repeat`` rounds of the floor, then `ingest` partition only with each pool size, and one more floor at
    the end: each pool run's efficiency is taken against the mean of the floors just before and just after it, so
    that the machine's drift over a round cancels out; the full pipeline once, against the mean floor. Returns the
    mean floor's pages/s."""
    if not {"floor", "pool"} & sections:
        return 0.0
    rows: dict[str, list[dict]] = {}
    pending: list[tuple] = []  # pool runs waiting for the floor after them

    def add(label: str, n: int, work: float, wall: float, tree: float, worker, failed: int, floor: dict) -> None:
        rows.setdefault(label, []).append(
            {
                "work": work,
                "wall": wall,
                "tree": tree,
                "worker": worker,
                "failed": failed,
                "efficiency": floor["work"] / (n * work),
                "wall efficiency": floor["wall"] / (n * wall),
            }
        )

    def measure_floor() -> None:
        done, wall, tree, _ = watch(
            [sys.executable, "-c", RAW, json.dumps([str(p) for p in files]), args.strategy, args.floor_gc]
        )
        raw = json.loads(done.stdout.strip().splitlines()[-1])
        floors.append({"work": raw["seconds"], "wall": wall})
        label = "floor: raw partition_pdf, 1 process" + (", gc frozen" if args.floor_gc == "frozen" else "")
        add(label, 1, raw["seconds"], wall, tree, None, raw["failed"], floors[-1])
        around = {key: (floors[-2][key] + floors[-1][key]) / 2 for key in ("work", "wall")} if pending else None
        for run in pending:
            add(*run, around)
        pending.clear()

    floors: list[dict] = []
    for attempt in range(args.repeat):
        measure_floor()
        for n in (int(x) for x in args.processes.split(",")) if "pool" in sections else ():
            out = tmp / f"out-part-{n}-{attempt}"
            report, wall, tree, worker = ingest(
                ["--local-path", str(corpus)],
                out,
                "--strategy",
                args.strategy,
                "--num-processes",
                str(n),
                "--no-vectors",
                "--chunking",
                "none",
            )
            pending.append(
                (
                    f"ingest partition only, {n} process{'es' if n > 1 else ''}",
                    n,
                    report["seconds"],
                    wall,
                    tree,
                    worker,
                    report["failed"],
                )
            )
    if pending:
        measure_floor()
    mean = {key: sum(f[key] for f in floors) / len(floors) for key in ("work", "wall")}
    for n in (int(x) for x in args.processes.split(",")) if "pool" in sections and not args.skip_full else ():
        report, wall, tree, worker = ingest(
            ["--local-path", str(corpus)],
            tmp / f"out-full-{n}",
            "--strategy",
            args.strategy,
            "--num-processes",
            str(n),
            "--chroma-path",
            str(tmp / f"chroma-{n}"),
        )
        add(
            f"ingest full pipeline, {n} process{'es' if n > 1 else ''} (1 run)",
            n,
            report["seconds"],
            wall,
            tree,
            worker,
            report["failed"],
            mean,
        )

    print(
        f"floor and pool, {args.repeat} rounds of: the floor, then each pool size, and a last floor (min-max over "
        "the rounds;\neach efficiency against the mean of the floors just before and after it):\n"
    )
    print(
        "| run | wall s | work s | docs/s | pages/s | peak RSS MB (tree) | worker MB | failed | efficiency (work) | "
        "efficiency (wall) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, runs in rows.items():
        workers = [r["worker"] for r in runs if r["worker"] is not None]
        print(
            f"| {label} | {spread([r['wall'] for r in runs])} | {spread([r['work'] for r in runs])} | "
            f"{spread([len(files) / r['work'] for r in runs], 2)} | {spread([pages / r['work'] for r in runs], 2)} | "
            f"{max(r['tree'] for r in runs):.0f} | {f'{max(workers):.0f}' if workers else '-'} | "
            f"{max(r['failed'] for r in runs)} | {spread_mean([r['efficiency'] for r in runs])} | "
            f"{spread_mean([r['wall efficiency'] for r in runs])} |"
        )
    print(
        "\nwork s: ingest's own clock, listing to last result (its ~3 s of start-up, unstructured's imports and"
        "\nmodels, included); the floor's: the partition loop alone, models loaded before. docs/s and pages/s"
        "\nfrom work s. efficiency = pages/s / (processes x floor pages/s), from work s, or from wall s (both"
        "\nsides then pay their start-up). The full pipeline also embeds every chunk on the same cores."
    )
    return pages / mean["work"]


def startup(args) -> None:
    rows = []
    for _ in range(args.repeat):
        done = subprocess.run(
            [sys.executable, "-c", STARTUP, str(ROOT), "2"], capture_output=True, text=True, env=ENV, check=True
        )
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(
        f"\npool start-up, 2 workers forked from a driver with unstructured loaded ({args.repeat} runs): fork "
        f"{spread([r['fork_ms'] for r in rows])} ms, first task round trip "
        f"{spread([r['first_task_ms'] for r in rows])} ms"
    )


def split(corpus, tmp, args) -> None:
    largest = max(corpus.glob("*.pdf"), key=pages_of)
    single = tmp / "largest"
    single.mkdir()
    os.symlink(corpus / largest.name, single / largest.name)
    runs: dict[str, list] = {"split": [], "unsplit": []}
    for attempt in range(args.repeat):
        for label, pages_flag in (("split", str(args.split_pages)), ("unsplit", "0")):
            out = tmp / f"{label}-{attempt}"
            report, wall, _, worker = ingest(
                ["--local-path", str(single)],
                out,
                "--strategy",
                args.strategy,
                "--num-processes",
                "2",
                "--split-pages",
                pages_flag,
                "--no-vectors",
            )
            runs[label].append((report["seconds"], worker, out))
    same = outputs(runs["split"][0][2]) == outputs(runs["unsplit"][0][2])
    best = {label: min(seconds for seconds, _, _ in rows) for label, rows in runs.items()}
    print(f"\n{largest.name} ({pages_of(largest)} pages) alone, 2 processes, {args.repeat} runs each, alternating:\n")
    print("| run | work s (min-max) | pages/s (best) | worker peak RSS MB (max) |")
    print("|---|---|---|---|")
    for label, rows in runs.items():
        flag = args.split_pages if label == "split" else 0
        print(
            f"| {label} (--split-pages {flag}) | {spread([s for s, _, _ in rows])} | "
            f"{pages_of(largest) / best[label]:.2f} | {max(w for _, w, _ in rows):.0f} |"
        )
    print(f"\nsplit is {best['unsplit'] / best['split']:.2f}x faster (best runs); outputs byte-identical: {same}")


def noop(files, tmp, args) -> None:
    moto, endpoint = start_moto(tmp)  # the tests' own moto fixture, with its request recorder
    try:
        ENV.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket="bench")
        for path in files:
            s3.upload_file(str(path), "bench", f"pdf/{path.name}")
        # --max-attempts 1: the PDFs that fail under the strategy are given up on after the first run (else each
        # rerun tries them again, up to 3 runs, and that is work, not a no-op)
        source = [
            "--s3-url",
            "s3://bench/pdf/",
            "--endpoint-url",
            endpoint,
            "--download-dir",
            str(tmp / "dl"),
            "--max-attempts",
            "1",
        ]
        out = tmp / "noop"
        ingest(source, out, "--strategy", args.strategy, "--no-vectors")
        walls, gets = [], []
        for _ in range(args.repeat):
            requests.post(f"{endpoint}/moto-api/recorder/reset-recording", timeout=5)
            requests.post(f"{endpoint}/moto-api/recorder/start-recording", timeout=5)
            report, wall, _, _ = ingest(source, out, "--strategy", args.strategy, "--no-vectors")
            requests.post(f"{endpoint}/moto-api/recorder/stop-recording", timeout=5)
            log = requests.get(f"{endpoint}/moto-api/recorder/download-recording", timeout=5).text
            entries = [json.loads(line) for line in log.splitlines() if line.strip()]
            gets.append(sum(1 for e in entries if e["method"] == "GET" and "/bench/pdf/" in e["url"]))
            walls.append(wall)
        print(
            f"\nno-op rerun of {len(files)} objects in S3 (moto), {args.repeat} runs: wall {spread(walls)} s "
            f"(whole command, start-up included), objects downloaded: {max(gets)}, documents skipped: "
            f"{report['skipped']}, reported failed again without a try (given up after the first run): "
            f"{report['failed']}"
        )
    finally:
        moto.terminate()
        moto.wait(10)


def celery(corpus, files, pages, tmp, args, floor_rate) -> None:
    broker = RedisServer(tmp)
    broker.start()
    worker = Worker(broker.url, tmp / "worker", concurrency=2, env=ENV)
    try:
        while worker.text().count("Loading SentenceTransformer") < 2:  # each process loads its model at start
            time.sleep(0.2)
        runs: dict[str, list] = {"local pool": [], "celery": []}
        for attempt in range(args.repeat):
            for label, extra in (
                ("local pool", []),
                ("celery", ["--executor", "celery", "--broker-url", broker.url, "--shared-folders"]),
            ):
                out = tmp / f"executor-{label[:5]}-{attempt}"
                report, wall, _, _ = ingest(
                    ["--local-path", str(corpus)],
                    out,
                    "--strategy",
                    args.strategy,
                    "--num-processes",
                    "2",
                    "--no-vectors",
                    "--chunking",
                    "none",
                    *extra,
                )
                runs[label].append((report["seconds"], wall, out))
    finally:
        worker.stop()
        broker.stop()
    same = outputs(runs["local pool"][0][2]) == outputs(runs["celery"][0][2])
    print(
        f"\npartition only, 2 processes, local pool vs celery (one worker, --concurrency 2, redis-server on this "
        f"machine), {args.repeat} runs each, alternating:\n"
    )
    print("| executor | work s (min-max) | wall s (min-max) | pages/s (best) | docs/s (best) | efficiency (best) |")
    print("|---|---|---|---|---|---|")
    for label, rows in runs.items():
        best = min(seconds for seconds, _, _ in rows)
        efficiency = f"{pages / best / (2 * floor_rate):.2f}" if floor_rate else "-"
        print(
            f"| {label} | {spread([r[0] for r in rows])} | {spread([r[1] for r in rows])} | {pages / best:.2f} | "
            f"{len(files) / best:.2f} | {efficiency} |"
        )
    print(
        f"\nThe celery worker's processes loaded unstructured and the embedding model before the clock (the "
        f"local pool's\nstart-up is inside its work s); outputs byte-identical: {same}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "pdf")
    parser.add_argument("--limit", type=int, default=0, help="only the N smallest files")
    parser.add_argument("--strategy", default="fast")
    parser.add_argument("--processes", default="1,2", help="comma-separated pool sizes")
    parser.add_argument("--split-pages", type=int, default=50)
    parser.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="rounds of floor and pool, and runs of the split, start-up, no-op and celery sections",
    )
    parser.add_argument(
        "--floor-gc",
        choices=("default", "frozen"),
        default="default",
        help="frozen: the floor freezes what it has loaded (gc.freeze()) before its loop, as ingest "
        "does before forking its workers, so that the efficiency shows the pipeline's own cost",
    )
    parser.add_argument("--skip-full", action="store_true", help="no full-pipeline rows (they embed every chunk)")
    parser.add_argument("--sections", default="floor,pool,startup,split,noop,celery")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"no corpus at {args.corpus}", file=sys.stderr)
        return 2
    sections = set(args.sections.split(","))
    files = sorted(args.corpus.glob("*.pdf"), key=lambda p: p.stat().st_size)
    files = files[: args.limit] if args.limit else files
    pages = sum(pages_of(p) for p in files)
    print(f"{len(files)} PDFs, {pages} pages (pdfium), strategy {args.strategy}, {os.cpu_count()} CPUs\n")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        corpus = tmp / "corpus"
        corpus.mkdir()
        for path in files:
            os.symlink(path, corpus / path.name)
        floor_rate = floor_and_pool(files, pages, corpus, tmp, args, sections)
        if "startup" in sections:
            startup(args)
        if "split" in sections:
            split(corpus, tmp, args)
        if "noop" in sections:
            noop(files, tmp, args)
        if "celery" in sections:
            celery(corpus, files, pages, tmp, args, floor_rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
