"""Every malformed file in ../shared/corpus/bad, plus odd ones of our own, in one run: each gets a recorded outcome
with a reason a user can act on, the run ends within its bound, and the good documents beside them are written."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from unstructured.staging.base import elements_from_json

from conftest import EXAMPLES, upload_folder

ENCRYPTED = {
    "issue6010_1.pdf",
    "libreoffice-writer-password.pdf",
    "password.pdf",
    "issue19484_1.pdf",
    "saslprep-r6.pdf",
}
DAMAGED = {
    "REDHAT-1531897-0.pdf",
    "bug1020226.pdf",
    "bug1250079.pdf",
    "bug1980958.pdf",
    "issue15590.pdf",
    "issue18986.pdf",
    "poppler-395-0-fuzzed.pdf",
    "issue9105_other.pdf",
    "poppler-742-0-fuzzed.pdf",
    "poppler-85140-0.pdf",
    "poppler-937-0-fuzzed.pdf",
}
NO_TEXT = {"GHOSTSCRIPT-698804-1-fuzzed.pdf", "empty.pdf", "issue15150.pdf"}
UNKNOWN = {"blob.bin", "noext-binary"}
BOUND_SECONDS = 300  # measured: about 10 s on 2 cores (README, "Hardening")


@pytest.mark.slow
def test_the_bad_corpus_in_one_run(s3, bucket, s3_endpoint, tmp_path, corpus):
    docs = tmp_path / "docs"
    shutil.copytree(corpus / "bad", docs)
    shutil.copy(EXAMPLES / "reports" / "fake-memo.pdf", docs / "good-memo.pdf")
    (docs / "html-in-disguise.pdf").write_text(
        "<html><body><h1>Really HTML</h1><p>This file says it is a PDF but it is a web page.</p></body></html>"
    )
    (docs / "README").write_text("A plain note without an extension.\n\nIt has two paragraphs.\n")
    rng = random.Random(5)
    (docs / "blob.bin").write_bytes(rng.randbytes(20_000))
    (docs / "noext-binary").write_bytes(rng.randbytes(5_000))
    names = {p.name for p in docs.iterdir()}
    upload_folder(s3, bucket, docs, "bad/")

    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "ingest"),
            "--s3-url",
            f"s3://{bucket}/bad/",
            "--endpoint-url",
            s3_endpoint,
            "--structured-output-dir",
            str(tmp_path / "out"),
            "--download-dir",
            str(tmp_path / "dl"),
            "--no-vectors",
            "--doc-timeout",
            "120",
            "--max-memory",
            "3000",
            "--summary-json",
            str(tmp_path / "s.json"),
        ],
        capture_output=True,
        text=True,
        timeout=BOUND_SECONDS,
    )

    assert run.returncode == 1, run.stderr[-2000:]
    report = json.loads((tmp_path / "s.json").read_text())
    failed = {row["key"].removeprefix("bad/"): row for row in report["failures"]}
    empty = {row["key"].removeprefix("bad/") for row in report["empty"]}
    written = {p.name.removesuffix(".json") for p in (tmp_path / "out").glob("*.json")}
    assert failed.keys() | written | empty == names  # one outcome for every file
    assert not failed.keys() & written and not empty & (failed.keys() | written)
    assert report["processed"] == len(written) and empty == NO_TEXT  # no text at all: empty, not failed
    assert {name: (row["stage"], row["error_type"]) for name, row in failed.items()} == {
        **{name: ("partition", "EncryptedPDF") for name in ENCRYPTED},
        **{name: ("partition", "CorruptPDF") for name in DAMAGED},
        **{name: ("partition", "UnsupportedType") for name in UNKNOWN},
    }
    assert failed["password.pdf"]["message"] == (
        "the PDF is encrypted and cannot be opened without its password; ingest does not decrypt PDFs (remove the "
        "password, or --exclude the file)"
    )
    assert {"good-memo.pdf", "html-in-disguise.pdf", "README", "bomb_giant.pdf", "issue9418.pdf"} <= written
    rescued = elements_from_json(filename=str(tmp_path / "out" / "issue9418.pdf.json"))  # pdfminer fails on it
    assert {e.metadata.text_source for e in rescued} == {"pdfium"} and "Revision" in " ".join(e.text for e in rescued)
    disguised = elements_from_json(filename=str(tmp_path / "out" / "html-in-disguise.pdf.json"))
    assert [e.text for e in disguised][:1] == ["Really HTML"]
    assert "bottles of water" in (tmp_path / "out" / "good-memo.pdf.json").read_text()
