"""The element-JSON format on a real local storage: the stamp, the skip decision, and a document's files."""

from __future__ import annotations

from dataclasses import replace

import pytest
from unstructured.documents.elements import NarrativeText
from unstructured.staging.base import elements_from_json

from ingest.config import RunConfig, SourceConfig
from ingest.models import DocumentRef
from ingest.writers.elements import (
    chunks_key,
    commit,
    discard_pending,
    output_key,
    pending_key,
    remove_outputs,
    staleness,
    write_chunks,
    write_elements,
)
from ingest.writers.storage import LocalStorage, storage_for

REF = DocumentRef("s3://b/docs/a.txt", "docs/a.txt", "sub/a.txt", "etag1", 12, "2026-01-01T00:00:00+00:00")


def written(tmp_path) -> LocalStorage:
    store = LocalStorage(tmp_path / "out")
    write_elements(store, output_key(REF.rel_path), [NarrativeText("The quay handles grain.")], REF, "cfg1")
    return store


def test_an_output_made_from_this_version_with_these_settings_is_current(tmp_path):
    store = written(tmp_path)
    assert staleness(store, "sub/a.txt.json", REF, "cfg1") is None
    loaded = elements_from_json(filename=str(tmp_path / "out" / "sub" / "a.txt.json"))
    assert loaded[0].metadata.data_source.url == REF.source_url and loaded[0].text == "The quay handles grain."


def test_every_difference_is_a_reason_to_redo(tmp_path):
    store = written(tmp_path)
    key = "sub/a.txt.json"
    assert staleness(store, key, replace(REF, version="etag2"), "cfg1") == "changed"
    assert staleness(store, key, replace(REF, size=13), "cfg1") == "changed"
    assert staleness(store, key, REF, "cfg2") == "settings changed"
    assert (
        staleness(store, key, replace(REF, source_url="s3://b/other"), "cfg1") == "output made from s3://b/docs/a.txt"
    )
    assert staleness(store, "missing.json", REF, "cfg1") == "new"
    (tmp_path / "out" / key).write_text('[{"half": ')
    assert staleness(store, key, REF, "cfg1") == "output unreadable"


def test_pending_output_is_committed_or_discarded_and_removal_takes_every_file(tmp_path):
    store = LocalStorage(tmp_path / "out")
    out = output_key(REF.rel_path)
    write_elements(store, pending_key(out), [NarrativeText("x")], REF, "cfg1")
    write_chunks(store, chunks_key(REF.rel_path), [{"id": "1", "text": "x", "metadata": {}}])
    assert not store.exists(out) and store.exists("sub/.a.txt.json.pending")
    commit(store, REF.rel_path)
    assert store.exists(out) and not store.exists(pending_key(out))

    write_elements(store, pending_key(out), [NarrativeText("y")], REF, "cfg2")
    discard_pending(store, REF.rel_path)
    assert not store.exists(pending_key(out)) and staleness(store, out, REF, "cfg1") is None

    remove_outputs(store, REF.rel_path)
    assert list(store.listing()) == []


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    if request.param == "local":
        return LocalStorage(tmp_path / "out")
    endpoint, bucket = request.getfixturevalue("s3_endpoint"), request.getfixturevalue("bucket")
    cfg = RunConfig(SourceConfig("s3", bucket=bucket, endpoint_url=endpoint), output_dir=f"s3://{bucket}/out/")
    return storage_for(cfg)


def test_a_document_committed_by_two_copies_of_its_task_is_in_place_once(storage):
    """A broker restart sends a running task again: both copies write the same pending output and commit it."""
    out = output_key(REF.rel_path)
    write_elements(storage, pending_key(out), [NarrativeText("x")], REF, "cfg1")
    commit(storage, REF.rel_path)
    commit(storage, REF.rel_path)  # the second copy finds it moved
    assert staleness(storage, out, REF, "cfg1") is None and not storage.exists(pending_key(out))

    remove_outputs(storage, REF.rel_path)
    with pytest.raises(Exception):  # noqa: B017,PT011 - nothing pending and nothing in place: a real failure
        commit(storage, REF.rel_path)
