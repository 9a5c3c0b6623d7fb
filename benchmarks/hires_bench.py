"""hi_res with images and tables: what the layout model finds, what the tables' HTML costs, and pages per second of
the whole run with and without ``--extract-images``, unsplit and split, on 2 processes, alternating.

    python benchmarks/hires_bench.py                                  # ../shared/corpus/pdf: tables, figures
    python benchmarks/hires_bench.py --files single_table.pdf --long fake-memo.pdf --repeat 1   # a smoke run

Tables: per file, the Table elements the layout model found, how many got HTML from the text layer (rows x columns
of each), and the seconds per table page of that HTML alone. Runs: ``ingest --strategy hi_res --no-vectors``, wall
time (min-max), pages per second, and the text coverage each run reports.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.config import PartitionConfig  # noqa: E402
from ingest.partition import check_prerequisites, partition_file  # noqa: E402
from ingest.partition.tables import with_html  # noqa: E402

FILES = [
    "embedded-images-tables.pdf",
    "layout-parser-paper-with-table.pdf",
    "korean-text-with-tables.pdf",
    "single_table.pdf",
    "table-multi-row-column-cells.pdf",
    "all-number-table.pdf",
    "embedded-images.pdf",
    "pdflatex-image.pdf",
    "layout-parser-paper-fast.pdf",
    "multi-column-2p.pdf",
]
INGEST = Path(sys.executable).with_name("ingest")


class Shape(HTMLParser):
    def __init__(self, html: str):
        super().__init__()
        self.rows: list[int] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append(0)
        elif tag in ("td", "th"):
            self.rows[-1] += 1


def tables(folder: Path, names: list[str]) -> None:
    cfg = PartitionConfig(strategy="hi_res", images="files")
    check_prerequisites(cfg)
    print("| file | pages | tables found | with HTML | rows x columns | HTML s per table page | cropped images |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        path = folder / name
        done = partition_file(path, name, cfg)
        found = [e for e in done.elements if e.category == "Table"]
        shapes = [Shape(e.metadata.text_as_html).rows for e in found if e.metadata.text_as_html]
        for element in found:
            element.metadata.text_as_html = None
        started = time.perf_counter()
        with_html(path, done.elements)
        seconds = time.perf_counter() - started
        table_pages = len({e.metadata.page_number for e in found}) or 1
        sizes = ", ".join(f"{len(rows)}x{max(rows)}" for rows in shapes) or "-"
        images = sum(1 for e in done.elements if e.metadata.image_base64)
        per_page = seconds / table_pages
        print(f"| {name} | {done.pages} | {len(found)} | {len(shapes)} | {sizes} | {per_page:.3f} | {images} |")


def run(docs: Path, out: Path, *args: str) -> tuple[float, dict]:
    shutil.rmtree(out, ignore_errors=True)
    report = out.parent / f"{out.name}.json"
    command = [str(INGEST), "--local-path", str(docs), "--structured-output-dir", str(out), "--no-vectors"]
    command += ["--strategy", "hi_res", "--num-processes", "2", "--summary-json", str(report), *args]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"ingest failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, json.loads(report.read_text())


def compare(title: str, docs: Path, work: Path, variants: dict[str, tuple[str, ...]], repeat: int) -> None:
    times: dict[str, list[float]] = {label: [] for label in variants}
    reports: dict[str, dict] = {}
    for _ in range(repeat):  # alternating, so that the machine's drift falls on every variant alike
        for label, args in variants.items():
            seconds, reports[label] = run(docs, work / label.replace(" ", "-"), *args)
            times[label].append(seconds)
    print(f"\n{title}\n")
    print("| run | wall s (min-max) | pages/s | text coverage | x first |")
    print("|---|---|---|---|---|")
    first = min(next(iter(times.values())))
    for label, seconds in times.items():
        report = reports[label]
        pages = report["pages"]
        coverage = report["coverage"]["ratio"]
        print(
            f"| {label} | {min(seconds):.1f}-{max(seconds):.1f} | {pages / min(seconds):.2f} | "
            f"{coverage if coverage is not None else '-'} | {first / min(seconds):.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "pdf")
    parser.add_argument("--files", nargs="*", default=FILES)
    parser.add_argument("--long", default="fr_olap.pdf", help="the PDF to split")
    parser.add_argument("--split-pages", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    tables(args.corpus, args.files)
    with tempfile.TemporaryDirectory(prefix="hires-bench-") as scratch:
        work = Path(scratch)
        docs, long = work / "docs", work / "long"
        docs.mkdir()
        long.mkdir()
        for name in args.files:
            shutil.copy(args.corpus / name, docs)
        shutil.copy(args.corpus / args.long, long)
        compare(
            f"hi_res over {len(args.files)} PDFs, 2 processes, {args.repeat} alternating runs",
            docs,
            work,
            {"hi_res": ("--split-pages", "0"), "hi_res --extract-images": ("--split-pages", "0", "--extract-images")},
            args.repeat,
        )
        compare(
            f"{args.long} with --extract-images, 2 processes, {args.repeat} alternating runs",
            long,
            work,
            {
                "unsplit": ("--split-pages", "0", "--extract-images"),
                f"--split-pages {args.split_pages}": ("--split-pages", str(args.split_pages), "--extract-images"),
            },
            args.repeat,
        )


if __name__ == "__main__":
    main()
