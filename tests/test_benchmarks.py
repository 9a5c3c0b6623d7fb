"""The benchmark scripts run (a smoke test on a few small files); their numbers are read by people, not asserted."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT


def run_script(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_partition_benchmark_prints_its_table(corpus):
    out = run_script(
        "benchmarks/partition_bench.py",
        "--corpus",
        str(corpus / "pdf"),
        "--limit",
        "2",
        "--repeat",
        "1",
        "--split-pages",
        "1",
        "--processes",
        "2",
    )
    assert "| floor: raw partition_pdf, 1 process |" in out
    assert "| ingest partition only, 2 processes |" in out and "| ingest full pipeline, 2 processes (1 run) |" in out
    assert "pool start-up, 2 workers forked" in out
    assert "outputs byte-identical: True" in out
    assert "objects downloaded: 0," in out
    assert "| celery |" in out and "outputs byte-identical: True" in out.split("local pool vs celery")[1]


@pytest.mark.slow
def test_embedding_benchmark_prints_its_table():
    out = run_script(
        "benchmarks/embed_bench.py",
        "--corpus",
        str(ROOT / "examples" / "documents"),
        "--limit",
        "3",
        "--timed",
        "16",
        "--repeat",
        "1",
    )
    assert "| pipeline (index writer + Chroma) |" in out and "| ingest --embedding-backend onnx-int8 |" in out
    assert "| torch | 1.0000 (1.0000) | 1.000 | n/a | n/a |" in out  # the queries are of the corpus, not these
    assert "| onnx | 1.0000 (" in out


@pytest.mark.slow
def test_coverage_benchmark_prints_its_table(corpus):
    out = run_script("benchmarks/coverage_bench.py", "--limit", "3", "--strategies", "fast")
    assert "| PDFs under 0.9 coverage |" in out and "| partition seconds, PDFs run stock |" in out
    assert "| in parts: the recovered pages made from the text layer |" in out
    assert "### fast: 3 other documents" in out


@pytest.mark.slow
def test_reembedding_benchmark_prints_its_table():
    pdf = ROOT / "examples" / "documents" / "reports" / "fake-memo.pdf"
    out = run_script("benchmarks/reembed_bench.py", "--pdf", str(pdf), "--page", "1")
    assert "| first run | 1 | 1 | 100.0% |" in out and "| page 1 changed | 8 | 8 | 100.0% |" in out
    assert "| unchanged, stored again (as --reprocess) | 8 | 0 | 0.0% |" in out


@pytest.mark.slow
def test_fast_partition_benchmark_prints_its_table(corpus):
    out = run_script("benchmarks/fast_bench.py", "--limit", "3", "--repeat", "1")
    assert "| ingest `fast` (spaCy batched, on numpy's BLAS; pdfminer faster) |" in out
    assert "| pypdfium2 text extraction (floor) |" in out
    assert "elements identical to stock fast: " in out and "(1.0000)" in out
    assert "| `--strategy text` (one pass, rules, coverage) |" in out
    assert "`--strategy text` (one pass, rules, coverage): coverage 1.0000" in out
    assert "blocks typed as unstructured's spaCy classifier types them: " in out


@pytest.mark.slow
def test_scale_benchmark_prints_its_table():
    out = run_script("benchmarks/scale_bench.py", "--sizes", "30", "--repeat", "2")
    rows = [line for line in out.splitlines() if line.startswith("| 30 |")]
    assert [row.split(" | ")[1] for row in rows] == ["local", "s3"], out
    local, s3 = (row.split(" | ") for row in rows)
    assert local[6:8] == ["0 / 0", "0 / 0"]  # no output read by either no-op rerun
    assert s3[6:8] == ["0 / 0", "0 / 0"]  # the ETags of the PUTs are known: not a GET or HEAD of an output


@pytest.mark.slow
def test_hires_benchmark_prints_its_tables(corpus):
    out = run_script(
        "benchmarks/hires_bench.py",
        "--files",
        "embedded-images-tables.pdf",
        "--long",
        "layout-parser-paper-fast.pdf",
        "--split-pages",
        "1",
        "--repeat",
        "1",
    )
    assert "| embedded-images-tables.pdf | 1 | 1 | 1 | 8x7 |" in out  # one table found, read as 8 rows of 7 cells
    assert "| hi_res --extract-images |" in out and "| --split-pages 1 |" in out
