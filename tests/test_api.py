"""The library entry points, called from Python as a script or a web service would, without Click."""

from __future__ import annotations

import pytest

import ingest
from conftest import copy_examples
from ingest.config import ChunkConfig, IndexConfig, RunConfig, RunOptions, SourceConfig, WebhookConfig
from ingest.errors import ConfigError


def config(tmp_path, docs, **changes) -> RunConfig:
    return RunConfig(
        SourceConfig("local", local_root=str(docs)),
        output_dir=str(tmp_path / "out"),
        download_dir=tmp_path / "dl",
        index=IndexConfig(enabled=False),
        **changes,
    )


def test_run_plan_and_status_from_python(tmp_path):
    docs = copy_examples(tmp_path / "docs")
    cfg = config(tmp_path, docs)
    count = sum(1 for p in docs.rglob("*") if p.is_file())

    assert {action for action, _, _ in ingest.plan(cfg)} == {"process"}
    first = ingest.run(cfg)
    assert (first.processed, first.failed, first.exit_code) == (count, 0, 0)
    assert (tmp_path / "out" / "reports" / "fake-memo.pdf.json").is_file()

    (docs / "norwich-city.txt").unlink()
    assert sorted(action for action, _, _ in ingest.plan(cfg)).count("delete") == 1
    second = ingest.run(cfg)
    assert (second.processed, second.skipped, second.deleted) == (0, count - 1, 1)

    report = ingest.status(str(tmp_path / "out"))
    assert report["counts"] == {"done": count - 1}
    assert [run["processed"] for run in report["runs"]] == [0, count]
    assert report["runs"][0]["arguments"]["source"]["local_root"] == str(docs)


def test_problems_with_the_run_raise_config_errors_before_any_work(tmp_path):
    docs = copy_examples(tmp_path / "docs")
    with pytest.raises(ConfigError, match="no such file or folder"):
        ingest.run(config(tmp_path, tmp_path / "missing"))
    with pytest.raises(ConfigError, match="needs --webhook-secret"):
        ingest.run(config(tmp_path, docs), RunOptions(webhooks=WebhookConfig(("http://127.0.0.1:9/",))))
    with pytest.raises(ConfigError, match="Invalid value for chunking options"):
        ingest.run(config(tmp_path, docs, chunk=ChunkConfig(max_characters=10, overlap=20)))
    assert not (tmp_path / "out").exists()
