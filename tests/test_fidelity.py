"""Never lose text, end to end from S3 with the default strategy: every text page in the outputs, documents with no
text `empty` (exit 0, skipped on the rerun, no outputs or vectors), coverage in the summary and `ingest status`."""

from __future__ import annotations

import json

import chromadb
from click.testing import CliRunner
from unstructured.staging.base import elements_from_json

import pdfs
from conftest import summary
from ingest.cli import main

TEXT = "The 1997–98 season cost £1,000,000 — «naïve» Zoë said so.\n\nA second paragraph.\n"


def fidelity_bucket(s3, bucket, tmp_path) -> None:
    folder = tmp_path / "made"
    folder.mkdir()
    for name in ("lost_page", "too_complex", "drawing", "blank_scan"):
        s3.upload_file(str(getattr(pdfs, name)(folder / f"{name}.pdf")), bucket, f"in/{name}.pdf")
    s3.put_object(Bucket=bucket, Key="in/notes.txt", Body=TEXT.encode("utf-8"))
    s3.put_object(Bucket=bucket, Key="in/blank.txt", Body=b"  \n\n \t\n")


def texts_by_page(path) -> dict[int, str]:
    pages: dict[int, str] = {}
    for element in elements_from_json(filename=str(path)):
        pages[element.metadata.page_number] = pages.get(element.metadata.page_number, "") + element.text
    return pages


def test_every_text_page_comes_out_and_documents_without_text_are_empty(s3, bucket, ingest, tmp_path):
    fidelity_bucket(s3, bucket, tmp_path)
    args = ("--s3-url", f"s3://{bucket}/in/", "--summary-json", str(tmp_path / "summary.json"))

    first = ingest(*args)
    report = json.loads((tmp_path / "summary.json").read_text())

    assert first.exit_code == 0, first.output
    assert summary(first).startswith("ingest: 3 processed, 0 skipped, 0 failed, 0 deleted, 3 empty, ")
    assert "text coverage 1.000, 4 pages recovered" in summary(first)  # page 2; the too complex PDF's 3
    for name in ("lost_page", "too_complex"):
        pages = texts_by_page(tmp_path / "out" / f"{name}.pdf.json")
        assert sorted(pages) == [1, 2, 3]
        assert all(f"Page {n}: the quay at berth {n} handles grain" in pages[n] for n in (1, 2, 3)), name
    notes = elements_from_json(filename=str(tmp_path / "out" / "notes.txt.json"))
    assert notes[0].text == TEXT.split("\n\n")[0]  # UTF-8 comes out as the text it is
    assert {row["key"]: row["reason"] for row in report["empty"]} == {
        "in/drawing.pdf": "no text layer, and OCR (strategy auto) found no text",
        "in/blank_scan.pdf": "no text layer, and OCR (strategy auto) found no text",
        "in/blank.txt": "the file is empty or holds only whitespace",
    }
    assert report["coverage"]["ratio"] == 1.0 and report["coverage"]["recovered_pages"] == 4
    assert report["coverage"]["documents_under_0.9"] == [] and report["exit_code"] == 0
    assert not any((tmp_path / "out" / f"{name}.json").exists() for name in ("drawing.pdf", "blank_scan.pdf"))

    status = CliRunner().invoke(main, ["status", "--structured-output-dir", str(tmp_path / "out"), "--json"])
    ledger = json.loads(status.stdout)
    assert ledger["counts"] == {"done": 3, "empty": 3}
    documents = {row["key"]: row for row in ledger["documents"]}
    assert documents["in/lost_page.pdf"]["coverage"] == 1.0 and documents["in/lost_page.pdf"]["recovered_pages"] == "2"
    assert documents["in/too_complex.pdf"]["recovered_pages"] == "1,2,3"
    assert documents["in/drawing.pdf"]["error"] == "no text layer, and OCR (strategy auto) found no text"
    text = CliRunner().invoke(main, ["status", "--structured-output-dir", str(tmp_path / "out")]).stdout
    assert "documents: 3 done, 0 failed, 3 empty" in text and "empty   in/blank.txt  (the file is empty" in text

    again = ingest(*args)
    assert again.exit_code == 0 and summary(again).startswith("ingest: 0 processed, 6 skipped, 0 failed")


def test_a_document_that_loses_its_text_loses_its_outputs_and_vectors(s3, bucket, ingest, tmp_path):
    s3.put_object(Bucket=bucket, Key="in/notes.txt", Body=TEXT.encode("utf-8"))
    args = ("--s3-url", f"s3://{bucket}/in/")
    assert ingest(*args, vectors=True).exit_code == 0
    collection = chromadb.PersistentClient(path=str(tmp_path / "chroma")).get_collection("ingest")
    assert collection.count() > 0

    s3.put_object(Bucket=bucket, Key="in/notes.txt", Body=b"\n\n   \n")
    emptied = ingest(*args, vectors=True)

    assert emptied.exit_code == 0 and summary(emptied).startswith(
        "ingest: 0 processed, 0 skipped, 0 failed, 0 deleted, 1 empty"
    )
    assert collection.count() == 0
    assert (
        not (tmp_path / "out" / "notes.txt.json").exists()
        and not (tmp_path / "out" / "notes.txt.chunks.jsonl").exists()
    )
    assert summary(ingest(*args, vectors=True)).startswith("ingest: 0 processed, 1 skipped")
