"""Partitioning PDFs: stock unstructured `fast` against ingest's `fast` (spaCy on numpy's BLAS and batched by page,
pdfminer's parser and characters faster: `ingest/partition/nlp.py`, `faster_pdfminer.py`), the text-layer path
(what ingest makes lost pages from), `--strategy text` and pypdfium2's bare text extraction (the floor), in one
process, file by file, alternating.

    python benchmarks/fast_bench.py                  # ../shared/corpus/pdf without its two longest PDFs
    python benchmarks/fast_bench.py --limit 3 --repeat 1   # a smoke run

Element agreement is against stock `fast`, element by element in order: the same category, text, page and
coordinates. Text-layer path: every page with text read by `ingest/partition/text_layer.py` (its elements are what
ingest makes for pages that `fast` loses). `--strategy text`: every page read in one pass, blocks classified by rules,
coverage measured (OCR of pages without text aside: `fast` does none). For both: coverage of the text layer, and the
similarity of each page's text to stock `fast`'s text of the same page (pages where both have text): in order
(rapidfuzz's ratio: reading order counts) and as multisets of characters (only what is there counts), and in order
over the pages where stock `fast` itself holds 0.99 or more of the text layer; and for the
text strategy, the share of its blocks typed as the text-layer path (unstructured's spaCy classifier) types them.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.config import PartitionConfig  # noqa: E402
from ingest.partition import check_prerequisites  # noqa: E402
from ingest.partition.coverage import characters, measure  # noqa: E402
from ingest.partition.faster_pdfminer import faster  # noqa: E402
from ingest.partition.nlp import batched_by_page, set_ops, use_numpy_blas  # noqa: E402
from ingest.partition.text_layer import elements_from_pages, page_texts, read  # noqa: E402


def forget() -> None:
    """unstructured's per-text caches emptied, so that every run classifies its texts itself."""
    from unstructured.nlp import tokenize

    for cached in (tokenize._process_cached, tokenize.word_tokenize, tokenize.pos_tag, tokenize._tokenize_for_cache):
        cached.cache_clear()


def timed(run) -> tuple[float, list]:
    forget()
    gc.collect()  # the garbage of the path before is not collected on this one's clock
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def fast(path: Path) -> list:
    from unstructured.partition.pdf import partition_pdf

    return partition_pdf(str(path), strategy="fast", languages=["eng"])


def ingest_fast(path: Path) -> list:
    """What ingest's `fast` runs: unstructured's, with its spaCy calls batched by page and pdfminer faster."""
    with faster(), batched_by_page():
        return fast(path)


def same(a, b) -> bool:
    return (a.category, a.text, a.metadata.page_number, a.metadata.coordinates.points) == (
        b.category,
        b.text,
        b.metadata.page_number,
        b.metadata.coordinates.points,
    )


def similarity(stock: list, ours: list, layer: list[str]) -> dict[str, float]:
    """Summed character similarity of each page's text, in order and as multisets of characters, over pages where
    both have text, and how many such pages; and the summed in-order similarity and count over those of them where
    stock `fast` holds 0.99 or more of the page's text layer (where its own text is the page's)."""
    from rapidfuzz import fuzz

    def by_page(elements):
        texts = [[] for _ in layer]
        for element in elements:
            texts[(element.metadata.page_number or 1) - 1].append(element.text)
        return [" ".join(" ".join(page).split()) for page in texts]

    def unordered(a: str, b: str) -> float:
        a, b = characters(a), characters(b)
        return 2 * sum((a & b).values()) / max(a.total() + b.total(), 1)

    whole = [page.kept >= 0.99 * page.layer for page in measure(layer, stock)]
    pairs = [(a, b, full) for a, b, full in zip(by_page(stock), by_page(ours), whole, strict=True) if a and b]
    return {
        "ordered": sum(fuzz.ratio(a, b) / 100 for a, b, _ in pairs),
        "chars": sum(unordered(a, b) for a, b, _ in pairs),
        "pages": len(pairs),
        "ordered_whole": sum(fuzz.ratio(a, b) / 100 for a, b, full in pairs if full),
        "pages_whole": sum(full for _, _, full in pairs),
    }


def text_strategy(path: Path) -> list:
    """What `--strategy text` does with a PDF's text pages: one pass over the PDF, coverage measured."""
    layer, elements = read(path, path.name, ["eng"])
    measure(layer, elements)
    return elements


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "pdf")
    parser.add_argument("--limit", type=int, default=0, help="only the N smallest PDFs")
    parser.add_argument("--keep-longest", action="store_true", help="keep the two longest PDFs")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    check_prerequisites(PartitionConfig(strategy="fast"))
    from thinc.api import NumpyOps
    from unstructured.nlp.tokenize import _get_nlp

    nlp = _get_nlp()
    pdfs = sorted(args.corpus.glob("*.pdf"), key=lambda p: p.stat().st_size)
    layers = {path: page_texts(path) for path in pdfs}
    pdfs = [path for path in pdfs if layers[path] and any(map(characters, layers[path]))]
    if not args.keep_longest:
        pdfs = sorted(pdfs, key=lambda p: len(layers[p]))[:-2]
    pdfs = pdfs[: args.limit] if args.limit else pdfs
    pages = sum(len(layers[path]) for path in pdfs)
    fast(pdfs[0])  # first-call costs (imports, caches) paid before any clock
    elements_from_pages(pdfs[0], [1], pdfs[0].name, ["eng"])
    text_strategy(pdfs[0])
    totals = {name: [0.0] * args.repeat for name in ("stock", "ours", "text", "rules", "floor")}
    unread = {name: [0.0] * args.repeat for name in ("stock", "rules")}  # on PDFs stock `fast` returns nothing for
    unread_pages = 0
    agree = elements = 0
    quality = {
        name: dict.fromkeys(("ordered", "chars", "pages", "ordered_whole", "pages_whole", "kept", "layer"), 0)
        for name in ("text", "rules")
    }
    typed = blocks = 0
    stock = ours = []
    made = {}
    for path in pdfs:
        numbers = [n for n, text in enumerate(layers[path], 1) if characters(text)]
        for round_ in range(args.repeat):
            for side in ("stock", "ours") if round_ % 2 == 0 else ("ours", "stock"):
                if side == "stock":
                    set_ops(nlp, NumpyOps())  # thinc's default: blis
                else:
                    use_numpy_blas(nlp)
                seconds, found = timed(lambda: (fast if side == "stock" else ingest_fast)(path))  # noqa: B023 - called at once
                totals[side][round_] += seconds
                stock, ours = (found, ours) if side == "stock" else (stock, found)
                if side == "stock" and not found:
                    unread["stock"][round_] += seconds
            seconds, made["text"] = timed(lambda: elements_from_pages(path, numbers, path.name, ["eng"]))  # noqa: B023
            totals["text"][round_] += seconds
            seconds, made["rules"] = timed(lambda: text_strategy(path))  # noqa: B023
            totals["rules"][round_] += seconds
            if not stock:
                unread["rules"][round_] += seconds
            seconds, _ = timed(lambda: page_texts(path))  # noqa: B023
            totals["floor"][round_] += seconds
        elements += len(stock)
        unread_pages += 0 if stock else len(layers[path])
        agree += sum(map(same, stock, ours)) if len(stock) == len(ours) else 0
        for name, elements_of in made.items():
            counts = quality[name]
            if stock:
                for key, value in similarity(stock, elements_of, layers[path]).items():
                    counts[key] += value
            coverage = measure(layers[path], elements_of)
            counts["kept"] += sum(p.kept for p in coverage)
            counts["layer"] += sum(p.layer for p in coverage)
        pairs = zip(made["text"], made["rules"], strict=True)  # the same blocks, classified by spaCy and by rules
        typed, blocks = typed + sum(a.category == b.category for a, b in pairs), blocks + len(made["rules"])

    print(f"{len(pdfs)} PDFs with a text layer, {pages} pages, one process, {args.repeat} alternating runs\n")
    print("| path | seconds (min-max) | pages/s (best) | x stock fast |")
    print("|---|---|---|---|")
    labels = {
        "stock": "stock `partition_pdf(strategy='fast')`",
        "ours": "ingest `fast` (spaCy batched, on numpy's BLAS; pdfminer faster)",
        "text": "text-layer path (`elements_from_pages`, spaCy batched)",
        "rules": "`--strategy text` (one pass, rules, coverage)",
        "floor": "pypdfium2 text extraction (floor)",
    }
    for name, seconds in totals.items():
        rate = pages / min(seconds)
        print(
            f"| {labels[name]} | {min(seconds):.2f}-{max(seconds):.2f} | {rate:.1f} | "
            f"{min(totals['stock']) / min(seconds):.2f} |"
        )
    read = [[total - skipped for total, skipped in zip(totals[name], unread[name], strict=True)] for name in unread]
    print(
        f"\non the {pages - unread_pages} pages stock fast returns elements for: stock {min(read[0]):.2f}-"
        f"{max(read[0]):.2f} s, `--strategy text` {min(read[1]):.2f}-{max(read[1]):.2f} s "
        f"({min(read[0]) / max(min(read[1]), 1e-9):.2f}x); the {unread_pages} pages of PDFs it returns nothing "
        f"for: stock {min(unread['stock']):.2f} s, `--strategy text` {min(unread['rules']):.2f} s"
    )
    print(f"elements identical to stock fast: {agree} of {elements} ({agree / max(elements, 1):.4f})")
    for name in ("text", "rules"):
        counts = quality[name]
        pages_compared, whole = max(counts["pages"], 1), max(counts["pages_whole"], 1)
        print(
            f"{labels[name]}: coverage {counts['kept'] / max(counts['layer'], 1):.4f}, similarity to fast per page "
            f"in order {counts['ordered'] / pages_compared:.4f}, as characters {counts['chars'] / pages_compared:.4f}"
            f" over {counts['pages']} pages; in order {counts['ordered_whole'] / whole:.4f} over"
            f" the {counts['pages_whole']} of them where stock fast holds 0.99 of the text layer"
        )
    print(
        f"`--strategy text` blocks typed as unstructured's spaCy classifier types them: {typed} of {blocks} "
        f"({typed / max(blocks, 1):.4f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
