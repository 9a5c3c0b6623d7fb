"""Text coverage before and after `ingest`'s check and recovery, and what they cost.

    python benchmarks/coverage_bench.py                      # ../shared/corpus/pdf and mixed, fast and auto
    python benchmarks/coverage_bench.py --limit 3 --strategies fast   # a smoke run

For every PDF, alternating in one warm process: stock unstructured (`partition(filename, strategy=...)`) and
`ingest`'s `partition_file` (the same call, then the text-layer check, recovery of lost pages, and the text-layer
path for PDFs that unstructured judges too complex). Coverage is measured the same way for both: the characters
of pdfium's text layer (NFKC, whitespace aside) that the elements hold. Under `auto`, stock unstructured OCRs every
page of a too-complex PDF (minutes per document): those are not run stock, and are listed apart. The non-PDF
documents of the mixed corpus are partitioned by both and their outcomes counted.

The cost is shown end to end (ingest's seconds against stock's: two partitions of each file, so this machine's
noise shows in it) and in parts that do not depend on the partition's noise: the text layer read and measured
(what every PDF pays), and the recovered pages made again from the text layer (what only a PDF that lost text pays).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ingest.config import PartitionConfig  # noqa: E402
from ingest.errors import EmptyDocument  # noqa: E402
from ingest.models import LOW_COVERAGE  # noqa: E402
from ingest.partition import check_prerequisites, is_pdf, partition_file  # noqa: E402
from ingest.partition.coverage import measure, summed  # noqa: E402
from ingest.partition.text_layer import elements_from_pages, page_texts  # noqa: E402


def stock(path: Path, strategy: str) -> tuple[list, float]:
    from unstructured.partition.auto import partition

    started = time.perf_counter()
    try:
        elements = partition(filename=str(path), strategy=strategy, languages=["eng"])
    except Exception:  # noqa: BLE001 - a failure keeps nothing
        elements = []
    return elements, time.perf_counter() - started


def ours(path: Path, strategy: str):
    started = time.perf_counter()
    try:
        done = partition_file(path, path.name, PartitionConfig(strategy=strategy))
    except Exception as exc:  # noqa: BLE001 - reported as the outcome
        return exc, time.perf_counter() - started
    return done, time.perf_counter() - started


def pdf_rows(files: list[Path], strategy: str) -> None:
    totals = dict(
        layer=0,
        after=0,
        compared=0,
        before=0,
        after_compared=0,
        stock=0.0,
        ours=0.0,
        ours_compared=0.0,
        ours_checked=0.0,
        stock_checked=0.0,
        check=0.0,
        recovery=0.0,
    )
    under_before, under_after, skipped, recovered, empty = [], [], [], [], []
    from unstructured.partition.pdf import is_pdf_too_complex

    for index, path in enumerate(files):
        started = time.perf_counter()
        layer = page_texts(path)
        if layer is None:
            continue
        check_started = time.perf_counter() - started
        complex_auto = strategy == "auto" and is_pdf_too_complex(filename=str(path))
        if index % 2:  # alternating which runs first: neither gets the warmer caches every time
            done, ours_seconds = ours(path, strategy)
        if not complex_auto:
            elements, stock_seconds = stock(path, strategy)
            started = time.perf_counter()
            before = summed(measure(layer, elements))
            totals["check"] += check_started + time.perf_counter() - started
        if not index % 2:
            done, ours_seconds = ours(path, strategy)
        if isinstance(done, Exception):
            print(f"  {path.name}: {type(done).__name__}: {done}", file=sys.stderr)
            continue
        after = done.coverage
        if done.empty:
            empty.append(path.name)
        if after.recovered_pages:
            started = time.perf_counter()
            elements_from_pages(path, list(after.recovered_pages), path.name, ["eng"])
            totals["recovery"] += time.perf_counter() - started
            recovered.append(f"{path.name} ({len(after.recovered_pages)} pages)")
        if after.layer and after.ratio < LOW_COVERAGE:
            under_after.append(f"{path.name} {after.ratio:.3f}")
        totals["layer"] += after.layer
        totals["after"] += after.kept
        totals["ours"] += ours_seconds
        if complex_auto:
            skipped.append(path.name)
            continue
        totals["compared"] += after.layer
        totals["before"] += before.kept
        totals["after_compared"] += after.kept
        totals["stock"] += stock_seconds
        totals["ours_compared"] += ours_seconds
        if before.layer and before.ratio < LOW_COVERAGE:
            under_before.append(f"{path.name} {before.ratio:.3f}")
        if not after.recovered_pages and done.elements:  # the check alone: what every document pays
            totals["ours_checked"] += ours_seconds
            totals["stock_checked"] += stock_seconds
    compared, layer = max(totals["compared"], 1), max(totals["layer"], 1)
    print(f"\n### {strategy}: {len(files)} PDFs\n")
    print("| | stock unstructured | ingest |")
    print("|---|---|---|")
    print(f"| PDFs under {LOW_COVERAGE} coverage | {len(under_before)} | {len(under_after)} |")
    before, after = totals["before"], totals["after_compared"]
    print(
        f"| text-layer characters kept, of {totals['compared']:,} | {before:,} ({before / compared:.4f}) | "
        f"{after:,} ({after / compared:.4f}) |"
    )
    print(f"| the same, every PDF, of {totals['layer']:,} | | {totals['after']:,} ({totals['after'] / layer:.4f}) |")
    print(f"| partition seconds, every PDF | | {totals['ours']:.1f} |")
    print(f"| partition seconds, PDFs run stock | {totals['stock']:.1f} | {totals['ours_compared']:.1f} |")
    total = totals["ours_compared"] / totals["stock"] - 1 if totals["stock"] else 0.0
    print(f"| the check and recovery's cost, PDFs run stock | | {100 * total:+.1f}% |")
    stock_seconds = max(totals["stock"], 1e-9)
    print(
        f"| in parts: the text layer read and measured, PDFs run stock | | {totals['check']:.1f} s "
        f"({100 * totals['check'] / stock_seconds:.1f}%) |"
    )
    print(
        f"| in parts: the recovered pages made from the text layer | | {totals['recovery']:.1f} s "
        f"({100 * totals['recovery'] / stock_seconds:.1f}%) |"
    )
    check = totals["ours_checked"] / totals["stock_checked"] - 1 if totals["stock_checked"] else 0.0
    print(f"| the check's cost on PDFs with nothing to recover | | {100 * check:+.1f}% |")
    print(f"\nunder {LOW_COVERAGE} before: {', '.join(under_before) or 'none'}")
    print(f"under {LOW_COVERAGE} after: {', '.join(under_after) or 'none'}")
    print(f"recovered: {', '.join(recovered) or 'none'}")
    print(f"empty (no text at all): {', '.join(empty) or 'none'}")
    if skipped:
        print(f"too complex, not run stock (it OCRs every page under auto): {', '.join(skipped)}")


def mixed_rows(files: list[Path], strategy: str) -> None:
    outcomes = {"stock": {}, "ingest": {}}
    for path in files:
        elements, _ = stock(path, strategy)
        outcomes["stock"][path.name] = "elements" if elements else "nothing"
        done, _ = ours(path, strategy)
        if isinstance(done, EmptyDocument) or isinstance(done, Exception):
            outcomes["ingest"][path.name] = f"failed ({type(done).__name__})"
        elif done.empty:
            outcomes["ingest"][path.name] = "empty"
        else:
            outcomes["ingest"][path.name] = "elements" + (" (partly read)" if done.unread else "")
    print(f"\n### {strategy}: {len(files)} other documents\n")
    print("| document | stock unstructured | ingest |")
    print("|---|---|---|")
    for name in sorted(outcomes["ingest"]):
        if outcomes["stock"][name] != "elements" or outcomes["ingest"][name] != "elements":
            print(f"| {name} | {outcomes['stock'][name]} | {outcomes['ingest'][name]} |")
    same = sum(outcomes["stock"][n] == outcomes["ingest"][n] == "elements" for n in outcomes["ingest"])
    print(f"| the other {same} | elements | elements |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    corpus = ROOT.parent / "shared" / "corpus"
    parser.add_argument("--pdf", type=Path, default=corpus / "pdf")
    parser.add_argument("--mixed", type=Path, default=corpus / "mixed")
    parser.add_argument("--strategies", default="fast,auto")
    parser.add_argument("--limit", type=int, default=0, help="only the N smallest files of each folder")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    check_prerequisites(PartitionConfig())
    warm = ROOT / "examples" / "documents" / "reports" / "layout-parser-paper-fast.pdf"
    stock(warm, "fast"), ours(warm, "fast")  # imports and models loaded before any clock runs

    def files(folder: Path, pdf: bool) -> list[Path]:
        found = sorted(
            (p for p in folder.iterdir() if p.is_file() and is_pdf(p) == pdf), key=lambda p: p.stat().st_size
        )
        return found[: args.limit] if args.limit else found

    for strategy in args.strategies.split(","):
        pdf_rows(files(args.pdf, True), strategy)
        if args.mixed.is_dir():
            mixed_rows(files(args.mixed, False), strategy)
    return 0


if __name__ == "__main__":
    sys.exit(main())
