"""`--extract-images`: figures and tables cropped out of PDFs as files beside the element JSON (or inline), tables as
HTML read from the text layer, both as chunks a query finds, and all of it kept in step with the bucket."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pypdfium2
import pytest
from click.testing import CliRunner

from conftest import INGEST, TESTS, main_command, output_state, summary, upload_folder
from ingest.config import PartitionConfig
from ingest.partition import check_prerequisites, partition_file

FIGURES = TESTS / "fixtures" / "figures-and-table.pdf"  # two figures with captions, one borderless table
JPEG = b"\xff\xd8\xff"


class Cells(HTMLParser):
    """An HTML table's rows of cell texts."""

    def __init__(self, html: str):
        super().__init__()
        self.rows: list[list[str]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.rows[-1].append("")

    def handle_data(self, data):
        if self.rows and self.rows[-1]:
            self.rows[-1][-1] += data


def doubled(folder: Path, name: str = "twice.pdf") -> Path:
    """The fixture's page twice: a two-page PDF with figures and a table on each page."""
    folder.mkdir(parents=True, exist_ok=True)
    source, copy = pypdfium2.PdfDocument(str(FIGURES)), pypdfium2.PdfDocument.new()
    copy.import_pages(source, [0, 0])
    copy.save(str(folder / name))
    return folder / name


def elements(path: Path) -> list[dict]:
    return json.loads(path.read_text())


def test_a_table_in_the_text_layer_becomes_html_and_cropping_changes_no_text():
    cfg = PartitionConfig(images="files")
    check_prerequisites(cfg)
    cropped = partition_file(FIGURES, "figures.pdf", cfg).elements
    plain = partition_file(FIGURES, "figures.pdf", PartitionConfig(strategy="hi_res")).elements

    assert [(e.category, e.text) for e in cropped] == [(e.category, e.text) for e in plain]
    assert sorted(e.category for e in cropped if e.metadata.image_base64) == ["Image", "Image", "Table"]
    (table,) = [e for e in cropped if e.category == "Table"]
    rows = Cells(table.metadata.text_as_html).rows
    assert rows[0][:3] == ["Inhibitor", "bc (V/dec)", "ba (V/dec)"]  # the header, cell by cell
    assert ["0", "0.0335", "0.0409", "0.9393", "0.0003", "24.0910", "2.8163"] in rows  # a row, read by eye
    assert len(rows) >= 6 and {len(row) for row in rows} == {7}


def test_a_scanned_table_keeps_its_ocr_text_and_gets_no_html(corpus):
    cfg = PartitionConfig(strategy="hi_res", images="files")
    check_prerequisites(cfg)
    done = partition_file(corpus / "pdf" / "single_table.pdf", "scan.pdf", cfg)
    (table,) = [e for e in done.elements if e.category == "Table"]
    assert "mean chunks per document" in table.text and table.metadata.text_as_html is None
    assert table.metadata.image_base64  # still cropped out


def test_images_are_refused_where_no_layout_model_runs(ingest, tmp_path):
    result = ingest("--local-path", str(tmp_path), "--strategy", "fast", "--extract-images")
    assert result.exit_code == 2
    assert "--extract-images needs the layout model, which --strategy fast does not run" in result.output


@pytest.mark.slow
def test_figures_and_tables_from_s3_to_s3_answer_queries_and_follow_the_bucket(
    s3, bucket, ingest, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    docs = tmp_path / "docs"
    (docs / "papers").mkdir(parents=True)
    shutil.copy(FIGURES, docs / "papers" / "corrosion.pdf")
    doubled(docs, "twice.pdf")
    upload_folder(s3, bucket, docs, "in/")
    target = f"out-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=target)
    # fp32 vectors: bf16 (the default where the CPU has it) moved the figure below two text chunks in a full run
    run = ("--s3-url", f"s3://{bucket}/in/", "--extract-images", "--embedding-backend", "torch")

    first = ingest(*run, vectors=True, out=f"s3://{target}/o/")
    assert first.exit_code == 0 and "2 processed" in summary(first), first.output

    stored = {obj["Key"] for obj in s3.list_objects_v2(Bucket=target, Prefix="o/")["Contents"]}
    figures = sorted(key for key in stored if ".figures/" in key)
    crops = [f"{kind}-{page}-{n}.jpg" for page in (1, 2) for kind, n in (("figure", 1), ("table", 2), ("figure", 3))]
    assert figures == sorted(
        [f"o/papers/corrosion.pdf.figures/{name}" for name in crops[:3]]
        + [f"o/twice.pdf.figures/{name}" for name in crops]
    )
    for key in figures:
        obj = s3.get_object(Bucket=target, Key=key)
        assert obj["ContentType"] == "image/jpeg" and obj["Body"].read().startswith(JPEG)
    output = json.loads(s3.get_object(Bucket=target, Key="o/papers/corrosion.pdf.json")["Body"].read())
    paths = {e["metadata"]["image_path"] for e in output if "image_path" in e["metadata"]}
    assert {f"o/{path}" for path in paths} == {key for key in figures if key.startswith("o/papers/")}
    assert not [e for e in output if "image_base64" in e["metadata"]]
    (table,) = [e for e in output if e["type"] == "Table"]
    assert table["metadata"]["image_path"] == "papers/corrosion.pdf.figures/table-1-2.jpg"
    assert "<th>Inhibitor</th>" in table["metadata"]["text_as_html"]

    query = CliRunner().invoke(
        main_command(),
        ["query", "corrosion rate in mm/year for each inhibitor concentration", "-k", "1"]
        + ["--chroma-path", str(tmp_path / "chroma")],
    )
    assert query.exit_code == 0, query.output
    assert re.search(r"image: (papers/corrosion|twice)\.pdf\.figures/table-\d-2\.jpg", query.output), query.output
    assert "characters of HTML" in query.output
    caption = CliRunner().invoke(
        main_command(),
        ["query", "Langmuir adsorption isotherm figure", "-k", "1", "--chroma-path", str(tmp_path / "chroma")],
    )
    assert re.search(r"image: (papers/corrosion|twice)\.pdf\.figures/figure-\d-3\.jpg", caption.output), caption.output

    again = ingest(*run, vectors=True, out=f"s3://{target}/o/")
    assert "0 processed, 2 skipped" in summary(again), again.output

    s3.put_object(Bucket=bucket, Key="in/papers/corrosion.pdf", Body=(TESTS / "fixtures" / "habibi.pdf").read_bytes())
    s3.delete_object(Bucket=bucket, Key="in/twice.pdf")
    third = ingest(*run, vectors=True, out=f"s3://{target}/o/")
    assert "1 processed, 0 skipped, 0 failed, 1 deleted" in summary(third), third.output
    left = {obj["Key"] for obj in s3.list_objects_v2(Bucket=target, Prefix="o/").get("Contents", ())}
    assert not [key for key in left if ".figures/" in key]  # habibi.pdf has no figures; twice.pdf is gone
    assert left == {"o/papers/corrosion.pdf.json", "o/papers/corrosion.pdf.chunks.jsonl"}


@pytest.mark.slow
def test_inline_images_files_and_none_replace_each_other(ingest, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(FIGURES, docs / "paper.pdf")
    out = tmp_path / "out"

    inline = ingest("--local-path", str(docs), "--inline-images", "--device", "cuda")
    assert inline.exit_code == 0, inline.output
    assert "--device cuda: onnxruntime has no CUDA provider here" in inline.output  # a CPU machine: one line
    crops = [e["metadata"] for e in elements(out / "paper.pdf.json") if "image_base64" in e["metadata"]]
    assert len(crops) == 3 and {m["image_mime_type"] for m in crops} == {"image/jpeg"}
    assert not (out / "paper.pdf.figures").exists()
    chunks = [json.loads(line) for line in (out / "paper.pdf.chunks.jsonl").read_text().splitlines()]
    figures = [c["metadata"] for c in chunks if c["metadata"]["element_types"] == "Image"]
    inlined = {e["element_id"] for e in elements(out / "paper.pdf.json") if e["type"] == "Image"}
    assert {m["element_id"] for m in figures} == inlined and not [m for m in figures if "image_path" in m]

    files = ingest("--local-path", str(docs), "--extract-images")
    assert "1 processed" in summary(files), files.output
    assert sorted(p.name for p in (out / "paper.pdf.figures").iterdir()) == [
        "figure-1-1.jpg",
        "figure-1-3.jpg",
        "table-1-2.jpg",
    ]
    assert not [e for e in elements(out / "paper.pdf.json") if "image_base64" in e["metadata"]]
    chunks = [json.loads(line) for line in (out / "paper.pdf.chunks.jsonl").read_text().splitlines()]
    figure_chunks = [c for c in chunks if c["metadata"]["element_types"] == "Image"]
    assert [c["metadata"]["image_path"] for c in figure_chunks] == [
        "paper.pdf.figures/figure-1-1.jpg",
        "paper.pdf.figures/figure-1-3.jpg",
    ]
    assert figure_chunks[1]["text"].startswith("Fig. 5. Langmuir adsorption isotherm of ES.")  # its caption

    plain = ingest("--local-path", str(docs))
    assert "1 processed" in summary(plain), plain.output
    assert not (out / "paper.pdf.figures").exists()
    assert not [e for e in elements(out / "paper.pdf.json") if "image_path" in e["metadata"]]


@pytest.mark.slow
def test_split_hi_res_crops_the_figures_of_an_unsplit_run(ingest, tmp_path):
    docs = tmp_path / "docs"
    doubled(docs)
    split = ingest("--local-path", str(docs), "--extract-images", "--split-pages", "1", out=tmp_path / "split")
    whole = ingest("--local-path", str(docs), "--extract-images", "--split-pages", "0", out=tmp_path / "whole")
    assert split.exit_code == whole.exit_code == 0, split.output + whole.output
    state = output_state(tmp_path / "split")
    assert state == output_state(tmp_path / "whole")  # the JSON, the chunks and every JPEG byte for byte
    assert len([key for key in state if key.endswith(".jpg")]) == 6


@pytest.mark.slow
def test_a_run_killed_between_two_figures_leaves_whole_files_and_the_next_run_finishes(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(FIGURES, docs / "paper.pdf")

    def run(out: Path, **env: str) -> subprocess.CompletedProcess:
        command = [INGEST, "--local-path", str(docs), "--structured-output-dir", str(out), "--no-vectors"]
        command += ["--extract-images", "--num-processes", "1"]
        environment = {**os.environ, "PYTHONPATH": str(TESTS / "crash"), **env}
        return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)

    kill = {"INGEST_TEST_KILL_AT": "ingest.writers.storage:atomic_write", "INGEST_TEST_KILL_AFTER": "2"}
    killed = run(tmp_path / "out", **kill)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert [name for name in left if not name.startswith(".ingest/")] == ["paper.pdf.figures/figure-1-1.jpg"]
    assert (tmp_path / "out" / "paper.pdf.figures" / "figure-1-1.jpg").read_bytes().endswith(b"\xff\xd9")  # whole

    assert run(tmp_path / "out").returncode == 0
    assert run(tmp_path / "clean").returncode == 0
    assert output_state(tmp_path / "out") == output_state(tmp_path / "clean")
    assert not [p for p in (tmp_path / "out").rglob(".*.tmp")]
