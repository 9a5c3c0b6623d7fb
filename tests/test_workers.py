"""The supervised pool: a worker that dies, hangs or grows past its memory limit costs only its document."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from conftest import EXAMPLES, FIXTURES, ROOT, copy_examples, run_local, summary


def failures(report: dict) -> dict[str, tuple[str, str]]:
    return {row["key"]: (row["stage"], row["error_type"]) for row in report["failures"]}


@pytest.mark.slow
def test_dead_and_stuck_workers_cost_only_their_document(tmp_path):
    docs = copy_examples(tmp_path / "docs")
    count = sum(1 for p in docs.rglob("*") if p.is_file())
    code, _, stderr, report = run_local(
        docs,
        tmp_path / "out",
        "--doc-timeout",
        "10",  # OCR of the scanned memo takes a few seconds, more on a loaded machine: it must not time out
        "--num-processes",
        "2",
        fault="fake.docx=segfault,fake-email.eml=exit,norwich-city.txt=hang,fake-html.html=hang",
        timeout=120,
    )

    assert code == 1, stderr
    assert failures(report) == {
        "fake.docx": ("partition", "WorkerDied"),
        "mail/fake-email.eml": ("partition", "WorkerDied"),
        "norwich-city.txt": ("partition", "Timeout"),
        "fake-html.html": ("partition", "Timeout"),
    }
    messages = {row["key"]: row["message"] for row in report["failures"]}
    assert messages["fake.docx"] == "the worker process was killed by SIGSEGV while on this document"
    assert messages["mail/fake-email.eml"] == "the worker process exited with code 3 while on this document"
    assert messages["norwich-city.txt"] == "took longer than --doc-timeout 10 s; the worker was stopped"
    assert report["processed"] == count - 4  # both workers were replaced twice, and the others all got done
    assert (tmp_path / "out" / "reports" / "fake-memo.pdf.json").is_file()
    assert not (tmp_path / "out" / "fake.docx.json").exists()

    code, _, stderr, report = run_local(docs, tmp_path / "out")  # no faults: the four are redone, the rest skipped
    assert code == 0, stderr
    assert (report["processed"], report["skipped"]) == (4, count - 4)


@pytest.mark.slow
def test_workers_are_recycled_without_losing_a_document(tmp_path):
    docs = copy_examples(tmp_path / "docs")
    count = sum(1 for p in docs.rglob("*") if p.is_file())
    code, _, stderr, report = run_local(docs, tmp_path / "out", "--max-tasks-per-worker", "1")
    assert code == 0, stderr
    assert report["processed"] == count


@pytest.mark.slow
def test_a_memory_bomb_fails_alone_and_the_largest_pdf_stays_under_the_limit(tmp_path, corpus):
    """bomb-giant-page.pdf is 553 bytes: one blank 6400 x 6400 pt page, which OCR renders to ~1e9 pixels (just
    under unstructured's own guard): 13.7 GB resident and 2 minutes without a limit, measured here."""
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(FIXTURES / "bomb-giant-page.pdf", docs)
    largest = max((corpus / "pdf").glob("*.pdf"), key=lambda p: p.stat().st_size)
    shutil.copy(largest, docs)
    shutil.copy(EXAMPLES / "reports" / "fake-memo.pdf", docs)

    code, _, stderr, report = run_local(docs, tmp_path / "out", "--max-memory", "1500", timeout=600)

    assert code == 1, stderr
    assert failures(report) == {"bomb-giant-page.pdf": ("partition", "MemoryLimit")}
    assert report["failures"][0]["message"].endswith("over --max-memory 1500 MB; the worker was stopped")
    assert report["processed"] == 2
    assert (tmp_path / "out" / f"{largest.name}.json").is_file()


def test_objects_over_max_file_size_are_skipped_before_download(ingest, s3, bucket, recorder, tmp_path):
    s3.put_object(Bucket=bucket, Key="small.txt", Body=b"A small note.")
    s3.put_object(Bucket=bucket, Key="big.txt", Body=b"A big note.\n\n" * 1000)  # 13,000 bytes
    recorder.start()
    result = ingest(
        "--s3-url", f"s3://{bucket}/", "--max-file-size", "0.01", "--summary-json", str(tmp_path / "summary.json")
    )
    gets = recorder.object_gets(bucket)

    assert result.exit_code == 0, result.output
    assert summary(result).startswith("ingest: 1 processed, 1 skipped (1 over --max-file-size), 0 failed")
    assert "skipped big.txt: 0.0124 MB is over --max-file-size 0.01 MB; not downloaded" in result.stderr
    assert [url.rsplit("/", 1)[-1] for url in gets] == ["small.txt"]
    report = json.loads((tmp_path / "summary.json").read_text())
    assert report["too_large"] == [{"key": "big.txt", "source_url": f"s3://{bucket}/big.txt", "size": 13_000}]
    assert not (tmp_path / "out" / "big.txt.json").exists()

    raised = ingest("--s3-url", f"s3://{bucket}/", "--max-file-size", "0")  # 0: no limit
    assert summary(raised).startswith("ingest: 1 processed, 1 skipped, 0 failed"), raised.stderr


def test_workers_start_from_a_process_without_torch_and_torch_still_loads_after():
    """spaCy's thinc would import torch into the driver (a third of the start-up) though partitioning never uses
    it; the embedder, which does, still gets it. (NarrativeText is spaCy's part-of-speech tagging at work.)"""
    script = f"""
import sys
from pathlib import Path
from ingest.config import PartitionConfig
from ingest.embedding import make_embedder
from ingest.partition import check_prerequisites, partition_file

check_prerequisites(PartitionConfig(strategy="fast"), ["fake-memo.pdf"])
print("torch" in sys.modules)
done = partition_file(Path({str(EXAMPLES / "reports" / "fake-memo.pdf")!r}), "fake-memo.pdf",
                                 PartitionConfig(strategy="fast"))
elements, pages = done.elements, done.pages
print(len(elements), pages, sorted({{element.category for element in elements}}))
print(len(make_embedder("all-MiniLM-L6-v2").encode([elements[0].text])[0]), "torch" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["False", "5 1 ['NarrativeText', 'Title', 'UncategorizedText']", "384 True"]


def test_workers_collect_garbage_without_walking_what_the_driver_loaded():
    """The driver's imports and models are frozen before the fork: a worker's collections walk only its own
    objects (walking the driver's took 4 of the 9.5 s a worker spent collecting over the PDF corpus)."""
    script = """
import gc, threading
from ingest.config import Limits, PartitionConfig
from ingest.models import DocumentRef, DocumentResult, Task
from ingest.partition import check_prerequisites
from ingest.pools.local import WorkerPool

def census(task, cfg, on_stage):
    return DocumentResult(task.ref, "processed", pages=gc.get_freeze_count(), elements=len(gc.get_objects()))

check_prerequisites(PartitionConfig(strategy="fast"), ["a.pdf"])
loaded, results, done = len(gc.get_objects()), [], threading.Event()
with WorkerPool(1, Limits(), census, lambda task, result: (results.append(result), done.set())) as pool:
    pool.submit(Task(DocumentRef("x", "x", "x", "", 0, "")), None)
    done.wait(60)
print(loaded, results[0].pages, results[0].elements)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    loaded, frozen, walked = map(int, done.stdout.split())
    assert loaded > 200_000  # unstructured and spaCy's model, tracked by the collector in the driver
    assert frozen > loaded * 9 // 10  # in the worker, (nearly) all of it frozen
    assert walked < loaded // 20  # and what the worker's collector walks is its own handful
