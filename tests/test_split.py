"""Long PDFs partitioned as page ranges across the pool give the outputs and vectors of an unsplit run; the work is
scheduled biggest first, and S3 objects download ahead of the workers, each exactly once."""

from __future__ import annotations

import re
import shutil

import pytest

from conftest import EXAMPLES, collection_state, output_state, run_local, summary, upload_folder

# 13, 12, 4 (two of them empty) and 4 pages: split by 3, every document has a short last range
CORPUS_PDFS = [
    "multi-column.pdf",
    "fr_olap.pdf",
    "layout-parser-paper-with-empty-pages.pdf",
    "mistitled_outlines_example.pdf",
]


def pdf_folder(tmp_path, corpus=None):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(EXAMPLES / "reports" / "layout-parser-paper-fast.pdf", docs)  # 2 pages
    shutil.copy(EXAMPLES / "fake.docx", docs)  # not a PDF: never split
    for name in CORPUS_PDFS if corpus else ():
        shutil.copy(corpus / "pdf" / name, docs)
    return docs


@pytest.mark.slow
def test_split_documents_are_identical_to_unsplit_ones(ingest, tmp_path, corpus):
    docs = pdf_folder(tmp_path, corpus)
    split = ingest(
        "--local-path",
        str(docs),
        "--split-pages",
        "3",
        "-v",
        "--chunking",
        "basic",
        vectors=True,
        out=tmp_path / "split",
    )
    whole = ingest(
        "--local-path",
        str(docs),
        "--split-pages",
        "0",
        "--chunking",
        "basic",
        "--chroma-path",
        str(tmp_path / "chroma-whole"),
        vectors=True,
        out=tmp_path / "whole",
    )

    assert split.exit_code == 0 and whole.exit_code == 0, split.output + whole.output
    assert summary(split).split(" in ")[0] == summary(whole).split(" in ")[0]  # same documents, pages, chunks
    assert output_state(tmp_path / "split") == output_state(tmp_path / "whole")  # byte for byte, ids included
    assert collection_state(tmp_path / "chroma") == collection_state(tmp_path / "chroma-whole")
    assert not (tmp_path / "split" / ".ingest" / "parts").exists()


def test_a_two_page_pdf_split_by_one_page_without_the_corpus(ingest, tmp_path):
    docs = pdf_folder(tmp_path)
    assert ingest("--local-path", str(docs), "--split-pages", "1", out=tmp_path / "split").exit_code == 0
    assert ingest("--local-path", str(docs), "--split-pages", "0", out=tmp_path / "whole").exit_code == 0
    assert output_state(tmp_path / "split") == output_state(tmp_path / "whole")


@pytest.mark.slow
def test_a_failing_range_fails_its_document_once_naming_the_pages(tmp_path):
    docs = pdf_folder(tmp_path)
    code, _, stderr, report = run_local(
        docs,
        tmp_path / "out",
        "--split-pages",
        "1",
        fault="layout-parser-paper-fast.pdf@pages2-2=segfault",
        timeout=120,
    )
    assert code == 1, stderr
    [failure] = report["failures"]
    assert (failure["key"], failure["stage"], failure["error_type"], failure["message"]) == (
        "layout-parser-paper-fast.pdf",
        "partition",
        "WorkerDied",
        "pages 2-2: the worker process was killed by SIGSEGV while on this document",
    )
    assert report["processed"] == 1  # fake.docx
    assert not (tmp_path / "out" / "layout-parser-paper-fast.pdf.json").exists()
    assert not (tmp_path / "out" / ".ingest" / "parts").exists()

    code, _, stderr, report = run_local(docs, tmp_path / "out", "--split-pages", "1")
    assert (code, report["processed"], report["skipped"]) == (0, 1, 1), stderr


def test_biggest_documents_go_first(ingest, tmp_path):
    docs = shutil.copytree(EXAMPLES, tmp_path / "docs")
    result = ingest("--local-path", str(docs), "--num-processes", "1", "-v")
    assert result.exit_code == 0, result.output
    done = re.findall(r"^processed (.+)$", result.stderr, re.MULTILINE)
    by_size = sorted((p for p in docs.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size, reverse=True)
    assert done == [p.relative_to(docs).as_posix() for p in by_size]


def test_each_object_is_downloaded_once_even_with_prefetch_splitting_and_re_download(
    s3, bucket, ingest, recorder, tmp_path
):
    uploaded = upload_folder(s3, bucket, pdf_folder(tmp_path), "in/")
    recorder.start()
    result = ingest("--s3-url", f"s3://{bucket}/in/", "--split-pages", "1", "--re-download")
    gets = recorder.object_gets(bucket)
    assert result.exit_code == 0, result.output
    assert sorted(url.rsplit("/", 1)[-1] for url in gets) == sorted(k.rsplit("/", 1)[-1] for k in uploaded)
    assert not [p for p in (tmp_path / "downloads").rglob("*") if p.is_file()]  # removed once done
