"""Re-embedding after an edit: how many of a long PDF's chunks a one-page change embeds again.

    python benchmarks/reembed_bench.py                       # ../shared/corpus/pdf/DA-619p.pdf, page 300
    python benchmarks/reembed_bench.py --pdf some.pdf --page 3   # a smoke run

The PDF goes through the pipeline (`--strategy fast`) and `store_vectors` into a fresh Chroma collection; then one
page is changed (replaced by the first page of another PDF, with pdfium) and the same document is stored
again. The table gives, for each pass, the chunks, the texts embedded and the seconds spent storing vectors.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ingest.config import IndexConfig, PartitionConfig, RunConfig, SourceConfig  # noqa: E402
from ingest.models import DocumentRef, Task  # noqa: E402
from ingest.partition import check_prerequisites  # noqa: E402
from ingest.pipeline import run_task  # noqa: E402
from ingest.writers.vectors import load, store_vectors  # noqa: E402

OTHER_PAGE = ROOT / "examples" / "documents" / "reports" / "layout-parser-paper-fast.pdf"


def edited(source: Path, page: int, to: Path) -> None:
    """``source`` with page ``page`` (from 1) replaced by the first page of another PDF: text that is new to it."""
    import pypdfium2

    pdf, other, copy = (
        pypdfium2.PdfDocument(str(source)),
        pypdfium2.PdfDocument(str(OTHER_PAGE)),
        pypdfium2.PdfDocument.new(),
    )
    copy.import_pages(pdf, list(range(page - 1)))
    copy.import_pages(other, [0])
    copy.import_pages(pdf, list(range(page, len(pdf))))
    copy.save(str(to))
    for document in (copy, other, pdf):
        document.close()


def stored(path: Path, cfg: RunConfig) -> tuple[int, int, float]:
    """(chunks, texts embedded, seconds storing vectors) for one pass of ``path``."""
    stat = path.stat()
    version = f"{stat.st_size}-{stat.st_mtime_ns}"
    modified = datetime.fromtimestamp(stat.st_mtime, UTC).isoformat()
    ref = DocumentRef(str(path), path.name, path.name, version, stat.st_size, modified)
    result = run_task(Task(ref), cfg)
    embedder = load(cfg.index)[0]
    before, started = embedder.encoded, time.perf_counter()
    errors = store_vectors(cfg, [(ref, result.records)])
    if errors != [None]:
        raise RuntimeError(f"storing failed: {errors}")
    return len(result.records), embedder.encoded - before, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pdf", type=Path, default=ROOT.parent / "shared" / "corpus" / "pdf" / "DA-619p.pdf")
    parser.add_argument("--page", type=int, default=300, help="the page to change (from 1)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        (tmp / "docs").mkdir()
        document = tmp / "docs" / args.pdf.name
        document.write_bytes(args.pdf.read_bytes())
        cfg = RunConfig(
            SourceConfig("local", local_root=str(tmp / "docs")),
            PartitionConfig(strategy="fast"),
            output_dir=str(tmp / "out"),
            download_dir=tmp / "downloads",
            index=IndexConfig(chroma_path=str(tmp / "chroma")),
            split_pages=0,  # one task for the whole document, as an unsplit run
        )
        check_prerequisites(cfg.partition)
        rows = [("first run", *stored(document, cfg))]
        edited(args.pdf, args.page, tmp / "edited.pdf")
        os.replace(tmp / "edited.pdf", document)
        rows.append((f"page {args.page} changed", *stored(document, cfg)))
        rows.append(("unchanged, stored again (as --reprocess)", *stored(document, cfg)))
    print(f"{args.pdf.name}, --strategy fast, {os.cpu_count()} CPUs\n")
    print("| pass | chunks | embedded | share | seconds storing vectors |")
    print("|---|---|---|---|---|")
    for name, chunks, embedded, seconds in rows:
        print(f"| {name} | {chunks} | {embedded} | {embedded / max(chunks, 1):.1%} | {seconds:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
