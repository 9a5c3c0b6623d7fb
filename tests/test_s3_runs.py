"""The command as a user runs it against a real S3 server: first run, reruns, changes, single objects, big listings."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from unstructured.staging.base import elements_from_json

from conftest import EXAMPLES, FIXTURES, summary, upload_folder
from ingest.paths import download_name


def outputs(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.json"))


def test_prefix_run_writes_one_loadable_json_per_document_and_rerun_skips_all_without_downloads(
    s3, bucket, ingest, tmp_path, recorder
):
    uploaded = upload_folder(s3, bucket, EXAMPLES, "docs/")
    s3.put_object(Bucket=bucket, Key="elsewhere/not-listed.txt", Body=b"outside the prefix")

    first = ingest("--s3-url", f"s3://{bucket}/docs/", "--summary-json", str(tmp_path / "summary.json"))

    assert first.exit_code == 0, first.output
    assert summary(first).startswith(f"ingest: {len(uploaded)} processed, 0 skipped, 0 failed")
    out = tmp_path / "out"
    assert outputs(out) == sorted(k.removeprefix("docs/") + ".json" for k in uploaded)
    filetypes = set()
    for key in uploaded:
        elements = elements_from_json(filename=str(out / (key.removeprefix("docs/") + ".json")))
        assert elements, key
        source = elements[0].metadata.data_source
        assert source.url == f"s3://{bucket}/{key}"
        assert source.version == s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
        assert elements[0].metadata.filename == key.rsplit("/", 1)[-1]
        filetypes.add(elements[0].metadata.filetype)
    assert {"application/pdf", "text/html", "text/plain", "message/rfc822"} <= filetypes
    assert len(filetypes) >= 6  # docx and pptx too
    assert json.loads((tmp_path / "summary.json").read_text())["processed"] == len(uploaded)
    assert not [p for p in (tmp_path / "downloads").rglob("*") if p.is_file()]  # removed after success

    recorder.start()
    second = ingest("--s3-url", f"s3://{bucket}/docs/")
    assert recorder.object_gets(bucket) == []
    assert second.exit_code == 0, second.output
    assert summary(second).startswith(f"ingest: 0 processed, {len(uploaded)} skipped, 0 failed")


def test_changed_object_is_redone_and_others_skipped(s3, bucket, ingest, tmp_path):
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"The first version of this note.")
    s3.put_object(Bucket=bucket, Key="b.txt", Body=b"A note that never changes.")
    assert ingest("--s3-url", f"s3://{bucket}/").exit_code == 0

    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"The second version of this note, rewritten.")
    result = ingest("--s3-url", f"s3://{bucket}/")

    assert result.exit_code == 0, result.output
    assert summary(result).startswith("ingest: 1 processed, 1 skipped, 0 failed")
    elements = elements_from_json(filename=str(tmp_path / "out" / "a.txt.json"))
    assert "second version" in elements[0].text
    assert elements[0].metadata.data_source.version == s3.head_object(Bucket=bucket, Key="a.txt")["ETag"].strip('"')


def test_reprocess_redoes_everything(s3, bucket, ingest):
    for name in ("one.txt", "two.txt"):
        s3.put_object(Bucket=bucket, Key=f"p/{name}", Body=f"Document {name} has a sentence.".encode())
    assert ingest("--s3-url", f"s3://{bucket}/p/").exit_code == 0

    result = ingest("--s3-url", f"s3://{bucket}/p/", "--reprocess")

    assert summary(result).startswith("ingest: 2 processed, 0 skipped, 0 failed")


def test_changed_partition_settings_redo_documents(s3, bucket, ingest):
    s3.upload_file(str(EXAMPLES / "reports" / "fake-memo.pdf"), bucket, "memo.pdf")
    assert ingest("--s3-url", f"s3://{bucket}/", "--strategy", "fast").exit_code == 0

    assert summary(ingest("--s3-url", f"s3://{bucket}/", "--strategy", "fast")).startswith("ingest: 0 processed")
    assert summary(ingest("--s3-url", f"s3://{bucket}/", "--strategy", "auto")).startswith("ingest: 1 processed")


def test_single_object_url_processes_only_that_object(s3, bucket, ingest, tmp_path):
    upload_folder(s3, bucket, EXAMPLES, "docs/")

    result = ingest("--s3-url", f"s3://{bucket}/docs/reports/fake-memo.pdf")

    assert result.exit_code == 0, result.output
    assert summary(result).startswith("ingest: 1 processed, 0 skipped")
    assert outputs(tmp_path / "out") == ["fake-memo.pdf.json"]


def test_prefix_without_trailing_slash_is_the_folder(s3, bucket, ingest, tmp_path):
    upload_folder(s3, bucket, EXAMPLES / "mail", "docs/mail/")
    s3.put_object(Bucket=bucket, Key="docs/mailbox.txt", Body=b"Not in the folder docs/mail.")

    result = ingest("--s3-url", f"s3://{bucket}/docs/mail")

    assert result.exit_code == 0, result.output
    assert outputs(tmp_path / "out") == ["fake-email.eml.json"]


@pytest.mark.slow
def test_listing_past_one_page_of_1000_keys(s3, bucket, ingest, tmp_path):
    keys = [f"filler/{i:04d}.bin" for i in range(1000)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=b"x"), keys))
    s3.put_object(Bucket=bucket, Key="zzz-last.txt", Body=b"Only the second page of the listing has this key.")

    result = ingest("--s3-url", f"s3://{bucket}/", "--exclude", "filler/*")

    assert result.exit_code == 0, result.output
    assert summary(result).startswith("ingest: 1 processed, 0 skipped, 0 failed")
    assert outputs(tmp_path / "out") == ["zzz-last.txt.json"]


def test_include_filter(s3, bucket, ingest, tmp_path):
    upload_folder(s3, bucket, EXAMPLES, "")

    result = ingest("--s3-url", f"s3://{bucket}", "--include", "*.pdf", "--exclude", "*scanned*")

    assert result.exit_code == 0, result.output
    assert outputs(tmp_path / "out") == ["reports/fake-memo.pdf.json", "reports/layout-parser-paper-fast.pdf.json"]


def test_corrupt_pdf_fails_alone_with_exit_1(s3, bucket, ingest, tmp_path):
    s3.upload_file(str(FIXTURES / "corrupt.pdf"), bucket, "in/corrupt.pdf")
    s3.upload_file(str(EXAMPLES / "reports" / "fake-memo.pdf"), bucket, "in/memo.pdf")
    s3.upload_file(str(EXAMPLES / "fake.docx"), bucket, "in/fake.docx")

    result = ingest("--s3-url", f"s3://{bucket}/in/", "--summary-json", str(tmp_path / "s.json"))

    assert result.exit_code == 1
    assert summary(result).startswith("ingest: 2 processed, 0 skipped, 1 failed")
    assert outputs(tmp_path / "out") == ["fake.docx.json", "memo.pdf.json"]
    report = json.loads((tmp_path / "s.json").read_text())
    assert report["exit_code"] == 1
    [failure] = report["failures"]
    assert failure["key"] == "in/corrupt.pdf"
    assert failure["stage"] == "partition"
    assert failure["error_type"] and failure["message"]
    assert f"FAILED in/corrupt.pdf [partition] {failure['error_type']}: " in result.stderr
    # the failed document's download is kept for the retry; the others are removed
    assert [p.name for p in (tmp_path / "downloads").rglob("*") if p.is_file()] == [download_name("in/corrupt.pdf")]


def test_hostile_keys_never_leave_their_folders(s3, bucket, ingest, tmp_path):
    hostile = [
        "../escape.txt",
        "a/../../escape2.txt",
        "/abs.txt",
        "dir//double.txt",
        "ctrl\x01.txt",
        "back\\slash.txt",
        "./dot.txt",
        ("long" * 70) + ".txt",
    ]
    for key in hostile + ["fine/ok.txt"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"Some text in a document with an odd name.")

    result = ingest("--s3-url", f"s3://{bucket}/", "--summary-json", str(tmp_path / "s.json"))

    assert result.exit_code == 1
    assert summary(result).startswith(f"ingest: 1 processed, 0 skipped, {len(hostile)} failed")
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written == [
        "out/.ingest/lock",
        "out/.ingest/state.db",
        "out/fine/ok.txt.chunks.jsonl",
        "out/fine/ok.txt.json",
        "s.json",
    ]
    failures = json.loads((tmp_path / "s.json").read_text())["failures"]
    assert sorted(f["key"] for f in failures) == sorted(hostile)
    assert {(f["stage"], f["error_type"]) for f in failures} == {("plan", "UnsafeKey")}
    assert (
        "FAILED ctrl\\x01.txt [plan] UnsafeKey: key contains the character '\\x01'; rename the object" in result.stderr
    )


def test_keys_that_would_share_an_output_or_a_download_never_overwrite_each_other(s3, bucket, ingest, tmp_path):
    """Case-insensitive and Unicode-normalising file systems (macOS, Windows) would give these pairs one file."""
    keys = {
        "dup/Report.txt": None,
        "dup/report.txt": "dup/Report.txt",
        "dup/cafe\u0301.txt": None,
        "dup/caf\u00e9.txt": "dup/cafe\u0301.txt",  # NFD and NFC of one name
        "nest/x": None,
        "nest/x/y": None,  # a file and a folder of one name: fine, downloads are hashed
        "nest/x.json/y": "nest/x",
    }  # its folder would be the element JSON of nest/x
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=f"The document stored at {key}.".encode())

    result = ingest("--s3-url", f"s3://{bucket}/", "--summary-json", str(tmp_path / "s.json"))

    assert result.exit_code == 1
    failures = {f["key"]: f for f in json.loads((tmp_path / "s.json").read_text())["failures"]}
    assert {key: (f["stage"], f["error_type"]) for key, f in failures.items()} == {
        key: ("plan", "KeyCollision") for key, owner in keys.items() if owner
    }
    assert failures["dup/report.txt"]["message"] == (
        "its outputs would overwrite those of 'dup/Report.txt' on a case-insensitive or normalising file system; "
        "rename one of the two"
    )
    for key, owner in keys.items():
        if owner is None:
            [element] = elements_from_json(filename=str(tmp_path / "out" / f"{key}.json"))
            assert element.text == f"The document stored at {key}."


def test_download_reuse_and_re_download(s3, bucket, ingest, tmp_path, recorder):
    s3.upload_file(str(EXAMPLES / "reports" / "fake-memo.pdf"), bucket, "memo.pdf")
    assert ingest("--s3-url", f"s3://{bucket}/", "--preserve-downloads").exit_code == 0
    assert (tmp_path / "downloads" / bucket / download_name("memo.pdf")).is_file()

    recorder.start()
    assert ingest("--s3-url", f"s3://{bucket}/", "--preserve-downloads", "--reprocess").exit_code == 0
    assert recorder.object_gets(bucket) == []  # same size and last-modified: the copy is reused

    folder = tmp_path / "downloads" / bucket
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that is gone
    leftovers = {pid: folder / f".{download_name('other.pdf')}.{pid}.part" for pid in (dead.pid, 1)}
    for leftover in leftovers.values():
        leftover.write_bytes(b"half a download")
    recorder.start()
    assert ingest("--s3-url", f"s3://{bucket}/", "--reprocess", "--re-download").exit_code == 0
    assert len(recorder.object_gets(bucket)) == 1
    assert not (folder / download_name("memo.pdf")).exists()  # not preserved this time
    assert not leftovers[dead.pid].exists() and leftovers[1].exists()  # a dead writer's part goes, a live one's stays


@pytest.mark.slow
def test_scanned_pdf_is_read_by_ocr(s3, bucket, ingest, tmp_path):
    s3.upload_file(str(EXAMPLES / "reports" / "scanned-memo.pdf"), bucket, "scan.pdf")

    result = ingest("--s3-url", f"s3://{bucket}/")

    assert result.exit_code == 0, result.output
    text = " ".join(e.text for e in elements_from_json(filename=str(tmp_path / "out" / "scan.pdf.json")))
    assert "20,000 bottles of water" in text


@pytest.mark.slow
def test_hi_res_runs_offline_with_the_bundled_layout_model(s3, bucket, ingest, tmp_path):
    s3.upload_file(str(EXAMPLES / "reports" / "fake-memo.pdf"), bucket, "memo.pdf")

    result = ingest("--s3-url", f"s3://{bucket}/", "--strategy", "hi_res")

    assert result.exit_code == 0, result.output
    elements = elements_from_json(filename=str(tmp_path / "out" / "memo.pdf.json"))
    assert "20,000 bottles of water" in " ".join(e.text for e in elements)
    assert {e.metadata.detection_class_prob is not None for e in elements} == {True}  # the layout model ran


def test_fast_strategy_on_a_scan_is_a_failure_not_an_empty_success(s3, bucket, ingest, tmp_path):
    s3.upload_file(str(EXAMPLES / "reports" / "scanned-memo.pdf"), bucket, "scan.pdf")

    result = ingest("--s3-url", f"s3://{bucket}/", "--strategy", "fast")

    assert result.exit_code == 1
    assert (
        "FAILED scan.pdf [partition] EmptyDocument: no text layer (a scan?) and strategy fast does no OCR: "
        "try --strategy auto or ocr_only"
    ) in result.stderr
    assert not (tmp_path / "out" / "scan.pdf.json").exists()
