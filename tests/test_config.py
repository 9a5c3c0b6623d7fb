"""The settings hash: what changes a document's outputs or vectors redoes it; nothing else does."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ingest.config import ChunkConfig, IndexConfig, Limits, PartitionConfig, RunConfig, SourceConfig

BASE = RunConfig(SourceConfig("local", local_root="/docs"), output_dir="/out", download_dir=Path("/dl"))


def test_the_same_settings_give_the_same_short_hash():
    again = RunConfig(SourceConfig("local", local_root="/docs"), output_dir="/out", download_dir=Path("/dl"))
    assert BASE.fingerprint() == again.fingerprint()
    assert len(BASE.fingerprint()) == 16 and int(BASE.fingerprint(), 16) >= 0


def test_settings_that_change_outputs_or_vectors_change_the_hash():
    changed = [
        replace(BASE, partition=PartitionConfig(strategy="fast")),
        replace(BASE, partition=PartitionConfig(languages=("eng", "deu"))),
        replace(BASE, partition=PartitionConfig(hi_res_model="yolox")),
        replace(BASE, partition=PartitionConfig(images="files")),
        replace(BASE, partition=PartitionConfig(images="inline")),
        replace(BASE, chunk=ChunkConfig(max_characters=200)),
        replace(BASE, chunk=ChunkConfig(strategy="basic")),
        replace(BASE, index=IndexConfig(model="/models/other")),
        replace(BASE, index=IndexConfig(enabled=False)),
    ]
    hashes = {cfg.fingerprint() for cfg in changed}
    assert len(hashes) == len(changed) and BASE.fingerprint() not in hashes


def test_where_and_how_the_work_runs_does_not_change_the_hash():
    same = [
        replace(BASE, index=IndexConfig(device="cuda", batch_size=8, chroma_host="db", collection="other")),
        replace(BASE, partition=PartitionConfig(device="cuda")),
        replace(BASE, num_processes=8, split_pages=0, limits=Limits(doc_timeout=1), reprocess=True),
        replace(BASE, output_dir="s3://bucket/out/", download_dir=Path("/elsewhere")),
        replace(BASE, source=SourceConfig("s3", bucket="b", prefix="p/", retries=0)),
    ]
    assert {cfg.fingerprint() for cfg in same} == {BASE.fingerprint()}


def test_the_hash_of_the_default_settings_is_the_one_earlier_versions_wrote():
    """Settings added later (images, the layout device) leave the hash of outputs made without them alone: an
    upgrade redoes nothing."""
    assert BASE.fingerprint() == "5a2d0cae9a002af6"


def test_chunk_settings_count_only_where_chunks_are_made():
    bare = replace(BASE, index=IndexConfig(enabled=False), chunk=ChunkConfig(strategy="none"))
    assert not bare.chunks_enabled
    assert replace(bare, chunk=ChunkConfig(strategy="none", max_characters=99)).fingerprint() == bare.fingerprint()


def test_the_library_defaults_are_the_command_lines():
    cfg = RunConfig(SourceConfig("s3", bucket="b"))
    assert (cfg.output_dir, cfg.num_processes, cfg.split_pages, cfg.partition.strategy) == (
        "structured-outputs",
        2,
        50,
        "auto",
    )
    assert cfg.index.enabled and cfg.index.store == "chroma" and cfg.download_dir.parts[-2:] == ("ingest", "downloads")
