"""A local folder goes through the same pipeline: same outputs, same skipping, a file's version is size + mtime."""

from __future__ import annotations

import os
import subprocess

from unstructured.staging.base import elements_from_json

from conftest import copy_examples, summary


def test_local_folder_run_rerun_and_change(ingest, tmp_path):
    docs = copy_examples(tmp_path / "docs")
    count = sum(1 for p in docs.rglob("*") if p.is_file())

    first = ingest("--local-path", str(docs))
    assert first.exit_code == 0, first.output
    assert summary(first).startswith(f"ingest: {count} processed, 0 skipped, 0 failed")
    memo = elements_from_json(filename=str(tmp_path / "out" / "reports" / "fake-memo.pdf.json"))
    assert memo[0].metadata.data_source.url == str(docs / "reports" / "fake-memo.pdf")
    assert any("bottles of water" in e.text for e in memo)
    assert docs.joinpath("fake.docx").exists()  # a local source is never deleted

    assert summary(ingest("--local-path", str(docs))).startswith(f"ingest: 0 processed, {count} skipped")

    note = docs / "norwich-city.txt"
    note.write_text("Norwich City changed its story entirely.")
    os.utime(note, (1_700_000_000, 1_700_000_000))
    third = ingest("--local-path", str(docs))
    assert summary(third).startswith(f"ingest: 1 processed, {count - 1} skipped")
    assert "changed its story" in elements_from_json(filename=str(tmp_path / "out" / "norwich-city.txt.json"))[0].text


def test_one_local_file(ingest, tmp_path):
    docs = copy_examples(tmp_path / "docs")
    result = ingest("--local-path", str(docs / "mail" / "fake-email.eml"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").rglob("*.json")) == ["fake-email.eml.json"]


def test_temp_files_of_dead_writers_are_swept_by_the_next_run_and_a_dry_run_leaves_them(ingest, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "note.txt").write_text("A note about the harbour.")
    out = tmp_path / "out"
    assert ingest("--local-path", str(docs)).exit_code == 0
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid no process has now: a writer killed mid-write
    stale = out / f".note.txt.json.{dead.pid}.k3j9x2.tmp"
    live = out / f".note.txt.json.{os.getppid()}.p0q1r2.tmp"  # a writer still at work: left alone
    for path in (stale, live):
        path.write_text('{"half": ')

    ingest("--local-path", str(docs), "--dry-run")
    assert stale.exists() and live.exists()
    rerun = ingest("--local-path", str(docs))
    assert summary(rerun).startswith("ingest: 0 processed, 1 skipped, 0 failed, 0 deleted")  # a temp is no output
    assert not stale.exists() and live.exists()
