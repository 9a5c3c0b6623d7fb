"""The embedding backends with the real bundled model on the text of real PDFs: onnx gives torch's vectors,
onnx-int8 and bf16 nearly them, and a collection never mixes two kinds of vectors."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from test_index import collection, upload

from conftest import EXAMPLES, main_command, summary
from ingest.config import PartitionConfig
from ingest.embedding import made_by, make_embedder, use_threads, vectors_of
from ingest.partition import partition_file

QUERIES = {  # a question, and words of the one passage that answers it
    "how is layout detected in document images": "layout",
    "who was told about the bottles of water": "bottles of water",
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One cache of built ONNX models for the module (a build takes ~15 s)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def onnx_cache(cache, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


@pytest.fixture(scope="module")
def texts() -> list[str]:
    elements = []
    for name in ("reports/layout-parser-paper-fast.pdf", "reports/fake-memo.pdf", "norwich-city.txt"):
        elements += partition_file(EXAMPLES / name, name, PartitionConfig(strategy="fast")).elements
    return [element.text for element in elements if element.text.strip()]


def vectors(backend: str, texts: list[str]) -> np.ndarray:
    use_threads(2)
    return np.array(make_embedder("all-MiniLM-L6-v2", "cpu", backend).encode(texts))


def test_onnx_gives_torchs_vectors_and_int8_nearly_them(texts, onnx_cache):
    fp32 = vectors("torch", texts)
    onnx, int8 = vectors("onnx", texts), vectors("onnx-int8", texts)

    assert len(texts) > 50 and fp32.shape == (len(texts), 384)
    assert (onnx * fp32).sum(1).min() > 0.9999
    cosine = (int8 * fp32).sum(1)
    assert cosine.mean() > 0.98 and cosine.min() > 0.9
    assert not np.allclose(int8, fp32, atol=1e-3)  # really another arithmetic
    built = list((onnx_cache / "ingest" / "onnx").iterdir())
    assert [sorted(p.name for p in folder.iterdir()) for folder in built] == [["model-int8.onnx", "model.onnx"]]


def test_a_second_load_reuses_the_built_model(texts, onnx_cache):
    vectors("onnx", texts[:2])
    folder = next((onnx_cache / "ingest" / "onnx").iterdir())
    made = (folder / "model.onnx").stat().st_mtime_ns
    vectors("onnx-int8", texts[:2])
    assert (folder / "model.onnx").stat().st_mtime_ns == made


@pytest.mark.slow
def test_bf16_gives_nearly_the_fp32_vectors(texts):
    """bf16 under autocast, whether the CPU has it in hardware (fast) or not (emulated, slow: a few texts)."""
    fp32, bf16 = vectors("torch", texts[:8]), vectors("bf16", texts[:8])
    assert (bf16 * fp32).sum(1).min() > 0.99


def test_each_backend_names_the_vectors_it_makes():
    assert vectors_of("all-MiniLM-L6-v2", "onnx") == vectors_of("all-MiniLM-L6-v2", "torch") == "all-MiniLM-L6-v2"
    for backend in ("bf16", "onnx-int8"):
        assert made_by(vectors_of("all-MiniLM-L6-v2", backend)) == ("all-MiniLM-L6-v2", backend)
    assert made_by("all-MiniLM-L6-v2") == ("all-MiniLM-L6-v2", "torch")


def test_an_int8_collection_is_queried_as_int8_and_refuses_fp32_vectors(s3, bucket, ingest, tmp_path, onnx_cache):
    upload(s3, bucket)
    first = ingest("--s3-url", f"s3://{bucket}/docs/", "--embedding-backend", "onnx-int8", vectors=True)
    assert first.exit_code == 0, first.output
    assert collection(tmp_path / "chroma").metadata["embedding_model"] == "all-MiniLM-L6-v2 (int8)"

    mixed = ingest("--s3-url", f"s3://{bucket}/docs/", "--embedding-backend", "torch", "--reprocess", vectors=True)
    assert mixed.exit_code == 2, mixed.output
    assert "holds vectors from 'all-MiniLM-L6-v2 (int8)', not 'all-MiniLM-L6-v2'" in mixed.output

    again = ingest("--s3-url", f"s3://{bucket}/docs/", "--embedding-backend", "onnx-int8", vectors=True)
    assert again.exit_code == 0 and "5 skipped" in summary(again), again.output
    for question, answer in QUERIES.items():
        found = CliRunner().invoke(
            main_command(), ["query", question, "--chroma-path", str(tmp_path / "chroma"), "-k", "1"]
        )
        assert found.exit_code == 0 and answer in found.output.lower(), found.output
